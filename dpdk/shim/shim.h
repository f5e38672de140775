/*
 * The part of DPDK that Rust cannot call directly: `static inline` functions of
 * the hot path, the per-lcore `rte_errno`, and constants that are function-like
 * macros. Each wrapper is a plain call of the DPDK function or macro it is named
 * after; see src/sys.rs.
 */
#ifndef FERRODNS_DPDK_SHIM_H
#define FERRODNS_DPDK_SHIM_H

#include <stdint.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

uint16_t ferrodns_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t ferrodns_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *ferrodns_pktmbuf_alloc(struct rte_mempool *pool);
int ferrodns_pktmbuf_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **mbufs, unsigned n);
void ferrodns_pktmbuf_free(struct rte_mbuf *m);
void ferrodns_mbuf_set_tx_offload(struct rte_mbuf *m, uint64_t ol_flags, uint16_t l2_len,
                                  uint16_t l3_len);
int ferrodns_errno(void);
uint64_t ferrodns_rdtsc(void);
unsigned ferrodns_lcore_id(void);

/* Port capability and request flags (RTE_BIT64 macros in the headers). */
uint64_t ferrodns_rss_ip_udp(void);
uint64_t ferrodns_rx_offload_checksum(void);
uint64_t ferrodns_tx_offload_ipv4_cksum(void);
uint64_t ferrodns_tx_offload_udp_cksum(void);
uint64_t ferrodns_tx_offload_multi_segs(void);
uint64_t ferrodns_mbuf_tx_ipv4_udp_cksum(void);
uint64_t ferrodns_mbuf_tx_ipv6_udp_cksum(void);

#endif
