//! Which answer policy each name's address RRsets get: the name's override, else
//! its zone's, else the server's default. Set by the configuration, whatever
//! source the records come from.

use std::collections::HashMap;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::AnswerPolicy;

use crate::config::ZoneConfig;

/// The configured answer policies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    default: AnswerPolicy,
    zones: HashMap<Name, ZonePolicies>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ZonePolicies {
    zone: Option<AnswerPolicy>,
    names: HashMap<Name, AnswerPolicy>,
}

impl Policies {
    /// `default` for every name, with the zones' and names' overrides of `zones`.
    pub fn new(default: AnswerPolicy, zones: &[ZoneConfig]) -> Self {
        let zones = zones
            .iter()
            .map(|z| {
                let names = z.name_policies.iter().cloned().collect();
                (
                    z.origin.clone(),
                    ZonePolicies {
                        zone: z.policy,
                        names,
                    },
                )
            })
            .collect();
        Policies { default, zones }
    }

    /// The policy of `name` in the zone `apex`.
    pub fn of(&self, apex: &Name, name: &Name) -> AnswerPolicy {
        let Some(zone) = self.zones.get(apex) else {
            return self.default;
        };
        zone.names
            .get(name)
            .copied()
            .or(zone.zone)
            .unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodns_dataplane::testkit::name;

    #[test]
    fn a_name_override_beats_its_zone_which_beats_the_default() {
        let zones = [
            ZoneConfig {
                origin: name("a."),
                file: None,
                policy: Some(AnswerPolicy::RandomOne),
                name_policies: vec![(name("x.a."), AnswerPolicy::HoneOne)],
            },
            ZoneConfig {
                origin: name("b."),
                file: None,
                policy: None,
                name_policies: Vec::new(),
            },
        ];
        let policies = Policies::new(AnswerPolicy::RoundRobin, &zones);
        assert_eq!(
            policies.of(&name("a."), &name("x.a.")),
            AnswerPolicy::HoneOne
        );
        assert_eq!(
            policies.of(&name("a."), &name("y.a.")),
            AnswerPolicy::RandomOne
        );
        assert_eq!(
            policies.of(&name("b."), &name("y.b.")),
            AnswerPolicy::RoundRobin
        );
        assert_eq!(
            policies.of(&name("c."), &name("c.")),
            AnswerPolicy::RoundRobin
        );
    }
}
