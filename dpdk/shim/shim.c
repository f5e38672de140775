/* See shim.h. */
#include "shim.h"

#include <rte_errno.h>
#include <rte_lcore.h>

uint16_t ferrodns_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t ferrodns_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *ferrodns_pktmbuf_alloc(struct rte_mempool *pool)
{
	return rte_pktmbuf_alloc(pool);
}

int ferrodns_pktmbuf_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **mbufs, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(pool, mbufs, n);
}

void ferrodns_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

void ferrodns_mbuf_set_tx_offload(struct rte_mbuf *m, uint64_t ol_flags, uint16_t l2_len,
                                  uint16_t l3_len)
{
	m->ol_flags = (m->ol_flags & ~RTE_MBUF_F_TX_OFFLOAD_MASK) | ol_flags;
	m->l2_len = l2_len;
	m->l3_len = l3_len;
}

int ferrodns_errno(void)
{
	return rte_errno;
}

uint64_t ferrodns_rdtsc(void)
{
	return rte_rdtsc();
}

unsigned ferrodns_lcore_id(void)
{
	return rte_lcore_id();
}

uint64_t ferrodns_rss_ip_udp(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP;
}

uint64_t ferrodns_rx_offload_checksum(void)
{
	return RTE_ETH_RX_OFFLOAD_CHECKSUM;
}

uint64_t ferrodns_tx_offload_ipv4_cksum(void)
{
	return RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
}

uint64_t ferrodns_tx_offload_udp_cksum(void)
{
	return RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
}

uint64_t ferrodns_tx_offload_multi_segs(void)
{
	return RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
}

uint64_t ferrodns_mbuf_tx_ipv4_udp_cksum(void)
{
	return RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
}

uint64_t ferrodns_mbuf_tx_ipv6_udp_cksum(void)
{
	return RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
}
