//! `server-rejoin-age`: will this Mesh server's Consul start again? From Consul 1.15.3 a server
//! writes `<data_dir>/server_metadata.json` (`{"last_seen_unix": T}`) at start and every hour,
//! and at start refuses to run when T is older than `server_rejoin_age_max` (default 168h, at
//! least 6h), or when the file cannot be read: it logs `refusing to rejoin cluster because server
//! has been offline for more than the configured server_rejoin_age_max` for a minute and exits
//! (agent/agent.go checkServerLastSeen, agent/consul/server_metadata.go at 1.21.4). A server kept
//! down a week, or restored from an old VM snapshot, stays down until the file is removed:
//! Carbonio's documented fix (admincli/mesh/rejoin-cluster.rst). The pure check is
//! [`rejoin_age_check`]; [`gather`] reads.

use carbonio_mesh_plugin_api::consul::version::SERVER_REJOIN_AGE;
use carbonio_mesh_plugin_api::consul::AgentVersion;
use carbonio_mesh_plugin_api::services::Exec;
use carbonio_mesh_plugin_api::Host;
use serde::Deserialize;

use crate::report::{Check, Status};

/// Consul's default `server_rejoin_age_max` (agent/config/default.go), and its minimum
/// (agent/config/builder.go).
const DEFAULT_MAX_AGE: u64 = 168 * 3600;
const MIN_MAX_AGE: u64 = 6 * 3600;

#[derive(Deserialize)]
struct ServerMetadata {
    last_seen_unix: i64,
}

/// A Go duration of hours, minutes and seconds (`168h`, `72h30m`), in seconds.
pub fn go_duration_secs(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total += number.parse::<u64>().ok()? * unit;
        number.clear();
    }
    number.is_empty().then_some(total)
}

/// The verdict on a server's `server_metadata.json`: `consul` is the installed Consul's version
/// (`None`: unknown, checked as if it had the limit), `file` the file's text (`Ok(None)`: there is
/// none), `max_age` the configured limit in seconds, `now` the time.
pub fn rejoin_age_check(
    scope: &str,
    consul: Option<&AgentVersion>,
    path: &str,
    file: Result<Option<String>, String>,
    max_age: u64,
    now: i64,
) -> Check {
    let name = "server-rejoin-age";
    if let Some(version) = consul.filter(|v| !v.has(&SERVER_REJOIN_AGE)) {
        return Check::new(
            name,
            scope,
            Status::Ok,
            format!(
                "Consul {} has no server_rejoin_age_max (from 1.15.3)",
                version.reported
            ),
        );
    }
    let fix = format!(
        "rm {path}; systemctl restart service-discover (Consul then starts and rejoins with its data, as Carbonio's rejoin procedure says)"
    );
    let limit = format!("server_rejoin_age_max, {}h", max_age / 3600);
    let text = match file {
        Ok(None) => {
            return Check::new(
                name,
                scope,
                Status::Ok,
                format!("no {path} yet: Consul writes it at start and every hour"),
            )
        }
        Ok(Some(text)) => text,
        Err(e) => {
            return Check::new(
                name,
                scope,
                Status::Fail,
                format!("{e}: Consul refuses to start on an unreadable one"),
            )
            .fix(fix)
        }
    };
    let Ok(metadata) = serde_json::from_str::<ServerMetadata>(&text) else {
        return Check::new(
            name,
            scope,
            Status::Fail,
            format!("{path} is not Consul's server metadata: Consul refuses to start on it"),
        )
        .fix(fix);
    };
    let age = now.saturating_sub(metadata.last_seen_unix).max(0) as u64;
    let days = |secs: u64| format!("{:.1} days", secs as f64 / 86_400.0);
    if age > max_age {
        return Check::new(
            name,
            scope,
            Status::Fail,
            format!(
                "this server was last seen {} ago, more than {limit}: Consul refuses to start it (\"refusing to rejoin cluster because server has been offline for more than the configured server_rejoin_age_max\")",
                days(age)
            ),
        )
        .fix(fix);
    }
    Check::new(
        name,
        scope,
        Status::Ok,
        format!("last seen {} ago, within {limit}", days(age)),
    )
}

/// The installed Consul's version (`consul version`'s first line).
fn installed_consul(host: &Host<'_>) -> Option<AgentVersion> {
    let out = host
        .exec(&Exec::new(["consul", "version"]).timeout_ms(10_000))
        .ok()?;
    AgentVersion::parse(out.stdout.lines().next()?)
}

/// Checks this server's file (`data_dir` and `server_rejoin_age_max` from main.json).
pub fn gather(
    host: &Host<'_>,
    scope: &str,
    data_dir: &str,
    configured_max: Option<&str>,
    now: i64,
) -> Check {
    let path = format!("{}/server_metadata.json", data_dir.trim_end_matches('/'));
    let max_age = configured_max
        .and_then(go_duration_secs)
        .map_or(DEFAULT_MAX_AGE, |secs| secs.max(MIN_MAX_AGE));
    let file = crate::local::read_if_present(host, &path);
    rejoin_age_check(
        scope,
        installed_consul(host).as_ref(),
        &path,
        file,
        max_age,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/var/lib/service-discover/data/server_metadata.json";
    const NOW: i64 = 1_800_000_000;

    fn check(version: &str, file: Result<Option<String>, String>) -> Check {
        let version = AgentVersion::parse(version).unwrap();
        rejoin_age_check("srv", Some(&version), PATH, file, DEFAULT_MAX_AGE, NOW)
    }

    fn seen(days_ago: i64) -> Result<Option<String>, String> {
        Ok(Some(format!(
            "{{\"last_seen_unix\":{}}}",
            NOW - days_ago * 86_400
        )))
    }

    #[test]
    fn a_server_down_for_more_than_a_week_is_flagged_with_the_fix() {
        let stale = check("1.21.4", seen(8));
        assert_eq!(stale.status, Status::Fail);
        assert!(
            stale
                .detail
                .contains("last seen 8.0 days ago, more than server_rejoin_age_max, 168h"),
            "{}",
            stale.detail
        );
        assert_eq!(
            stale.fix.as_deref(),
            Some("rm /var/lib/service-discover/data/server_metadata.json; systemctl restart service-discover (Consul then starts and rejoins with its data, as Carbonio's rejoin procedure says)")
        );
        assert_eq!(check("1.21.4", seen(6)).status, Status::Ok);
        assert_eq!(check("1.21.4", Ok(None)).status, Status::Ok);
        assert_eq!(check("1.21.4", Ok(Some("{".into()))).status, Status::Fail);
    }

    #[test]
    fn before_1_15_3_there_is_no_limit_and_the_limit_is_configurable() {
        let old = check("1.10.12", seen(30));
        assert_eq!(old.status, Status::Ok);
        assert!(old
            .detail
            .contains("Consul 1.10.12 has no server_rejoin_age_max"));
        let tight = rejoin_age_check("srv", None, PATH, seen(2), 24 * 3600, NOW);
        assert_eq!(tight.status, Status::Fail, "unknown Consul: checked");
        assert_eq!(go_duration_secs("168h"), Some(168 * 3600));
        assert_eq!(go_duration_secs("72h30m"), Some(72 * 3600 + 1800));
        assert_eq!(go_duration_secs("1d"), None);
        assert_eq!(go_duration_secs("12"), None);
    }
}
