//! Client identity: the `ip@instanceName[@unitName]` string brokers use to tell clients apart.
//!
//! Brokers key consumer-group membership, queue locks and transaction checks by client id, and
//! consumers sort the ids of their group to allocate queues (docs/protocol/rebalance.md §2; docs/protocol/heartbeat.md §7). Two live
//! clients with the same id in one group would be allocated the same queues, so the id of a
//! producer or clustering consumer must be unique: see [`unique_instance_name`].

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The instance name a Java client starts with (`ClientConfig.instanceName`).
///
/// Java keeps it for broadcasting consumers (whose local offset file path contains the client
/// id, so it must be stable across restarts) and replaces it with a unique name for producers
/// and clustering consumers.
pub const DEFAULT_INSTANCE_NAME: &str = "DEFAULT";

/// Builds a client id the way Java's `ClientConfig.buildMQClientId` does:
/// `ip@instanceName`, plus `@unitName` when a non-blank unit name is given.
///
/// ```
/// use rocketmq_rs_client::util::client_id;
///
/// assert_eq!(client_id("10.0.0.1", "DEFAULT", None), "10.0.0.1@DEFAULT");
/// assert_eq!(client_id("10.0.0.1", "1234#99", Some("unitA")), "10.0.0.1@1234#99@unitA");
/// assert_eq!(client_id("10.0.0.1", "DEFAULT", Some("  ")), "10.0.0.1@DEFAULT");
/// ```
pub fn client_id(ip: &str, instance_name: &str, unit_name: Option<&str>) -> String {
    let unit = unit_name.filter(|u| !u.trim().is_empty());
    let mut id =
        String::with_capacity(ip.len() + instance_name.len() + 2 + unit.map_or(0, |u| u.len() + 1));
    id.push_str(ip);
    id.push('@');
    id.push_str(instance_name);
    if let Some(unit) = unit {
        id.push('@');
        id.push_str(unit);
    }
    id
}

/// Returns a fresh instance name, unique per call: `<pid>#<nanos>#<seq>-<random>`.
///
/// Java uses `<pid>#<System.nanoTime()>`. That is not enough here: two clients built in the
/// same process within one clock tick, or two containers that share an IP (host networking)
/// and a PID (both PID 1), could collide. So the name adds a process-wide sequence number
/// (unique within the process) and 32 random bits (unique across processes with high
/// probability). The name contains no `@`, because tools split client ids on `@`.
///
/// ```
/// use rocketmq_rs_client::util::unique_instance_name;
///
/// let a = unique_instance_name();
/// let b = unique_instance_name();
/// assert_ne!(a, b);
/// assert!(a.starts_with(&format!("{}#", std::process::id())));
/// assert!(!a.contains('@'));
/// ```
pub fn unique_instance_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}#{}#{}-{:08x}",
        std::process::id(),
        nanos,
        seq,
        fastrand::u32(..)
    )
}

/// Best-effort detection of this host's non-loopback IPv4 address, used as the `ip` part of
/// the client id. Never sends any traffic.
///
/// On Linux it reads the kernel's tables: local addresses from `/proc/net/fib_trie`, and
/// `/proc/net/route` to prefer the address on the interface that carries the default route
/// (so a bridge such as `docker0` is not picked over the real uplink), then any address on a
/// non-bridge interface, then any non-loopback address. Elsewhere, or if nothing is found, it
/// returns `127.0.0.1`: the id then still works against a local broker, and applications on
/// other platforms should set the client IP explicitly in the client configuration.
///
/// ```
/// let ip = rocketmq_rs_client::util::local_ip();
/// assert!(!ip.is_unspecified());
/// ```
pub fn local_ip() -> Ipv4Addr {
    detect_linux().unwrap_or(Ipv4Addr::LOCALHOST)
}

fn detect_linux() -> Option<Ipv4Addr> {
    let fib = std::fs::read_to_string("/proc/net/fib_trie").ok()?;
    let route = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    choose_ip(&local_addresses(&fib), &parse_routes(&route), |iface| {
        std::path::Path::new("/sys/class/net")
            .join(iface)
            .join("bridge")
            .exists()
    })
}

/// Addresses the kernel lists as `/32 host LOCAL` in `/proc/net/fib_trie`, loopback excluded,
/// deduplicated in first-seen order.
fn local_addresses(fib_trie: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let t = line.trim();
        if let Some(addr) = t.strip_prefix("|-- ") {
            last = addr.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(ip) = last.take() {
                if !ip.is_loopback() && !ip.is_unspecified() && !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    iface: String,
    dest: u32,
    mask: u32,
}

fn parse_routes(route: &str) -> Vec<Route> {
    // The kernel prints each address as the raw u32 in host byte order, so converting back
    // with native-endian bytes yields the address octets in order.
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| u32::from_be_bytes(v.to_ne_bytes()))
    };
    route
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 8 {
                return None;
            }
            Some(Route {
                iface: cols[0].to_string(),
                dest: hex(cols[1])?,
                mask: hex(cols[7])?,
            })
        })
        .collect()
}

fn choose_ip(
    addrs: &[Ipv4Addr],
    routes: &[Route],
    is_bridge: impl Fn(&str) -> bool,
) -> Option<Ipv4Addr> {
    let iface_of = |ip: Ipv4Addr| {
        let ip = u32::from(ip);
        routes
            .iter()
            .filter(|r| r.mask != 0 && ip & r.mask == r.dest & r.mask)
            .max_by_key(|r| r.mask.count_ones())
            .map(|r| r.iface.as_str())
    };
    let default_iface = routes
        .iter()
        .find(|r| r.dest == 0 && r.mask == 0)
        .map(|r| r.iface.as_str());
    if let Some(def) = default_iface {
        if let Some(ip) = addrs.iter().find(|ip| iface_of(**ip) == Some(def)) {
            return Some(*ip);
        }
    }
    addrs
        .iter()
        .find(|ip| iface_of(**ip).is_some_and(|i| !is_bridge(i)))
        .or_else(|| addrs.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
     |-- 172.17.0.1
        /32 host LOCAL
     |-- 172.17.255.255
        /32 link BROADCAST
     |-- 192.0.2.2
        /32 host LOCAL
Local:
     |-- 192.0.2.2
        /32 host LOCAL
";

    fn route_text() -> String {
        // Build the hex columns the way the kernel prints them on this machine's endianness.
        let h = |ip: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(ip));
        format!(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             docker0\t{}\t00000000\t0001\t0\t0\t0\t{}\t0\t0\t0\n\
             eth0\t00000000\t{}\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
             eth0\t{}\t00000000\t0001\t0\t0\t0\t{}\t0\t0\t0\n",
            h([172, 17, 0, 0]),
            h([255, 255, 0, 0]),
            h([192, 0, 2, 1]),
            h([192, 0, 2, 0]),
            h([255, 255, 255, 0]),
        )
    }

    #[test]
    fn fib_trie_lists_local_non_loopback_addresses() {
        assert_eq!(
            local_addresses(FIB),
            vec![Ipv4Addr::new(172, 17, 0, 1), Ipv4Addr::new(192, 0, 2, 2)]
        );
    }

    #[test]
    fn default_route_interface_wins_over_bridge() {
        let routes = parse_routes(&route_text());
        assert_eq!(routes.len(), 3);
        assert_eq!(routes[0].dest, u32::from(Ipv4Addr::new(172, 17, 0, 0)));
        let ip = choose_ip(&local_addresses(FIB), &routes, |i| i == "docker0");
        assert_eq!(ip, Some(Ipv4Addr::new(192, 0, 2, 2)));
    }

    #[test]
    fn without_default_route_bridges_are_skipped() {
        let routes: Vec<Route> = parse_routes(&route_text())
            .into_iter()
            .filter(|r| r.dest != 0)
            .collect();
        let ip = choose_ip(&local_addresses(FIB), &routes, |i| i == "docker0");
        assert_eq!(ip, Some(Ipv4Addr::new(192, 0, 2, 2)));
        // No route information at all: first address found.
        assert_eq!(
            choose_ip(&local_addresses(FIB), &[], |_| false),
            Some(Ipv4Addr::new(172, 17, 0, 1))
        );
        assert_eq!(choose_ip(&[], &routes, |_| false), None);
    }

    #[test]
    fn garbage_tables_do_not_panic() {
        assert!(local_addresses("|-- not-an-ip\n/32 host LOCAL\n").is_empty());
        assert!(parse_routes("header\nshort line\neth0 ZZZZ 0 0 0 0 0 FFFF\n").is_empty());
    }

    #[test]
    fn unique_names_differ_within_process() {
        let names: std::collections::HashSet<String> =
            (0..1000).map(|_| unique_instance_name()).collect();
        assert_eq!(names.len(), 1000);
    }
}
