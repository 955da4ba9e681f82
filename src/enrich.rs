//! Optional GeoIP enrichment from MaxMind-format databases.
//!
//! Where an event has `source.ip` but no geo fields, the configured
//! databases fill them: a City database (GeoIP2/GeoLite2 layout, or the
//! flat `country_code`/`city`/`latitude`/`longitude` layout of the
//! ip-location-db packages) gives country, city, coordinates and accuracy;
//! an ASN database gives `asn` and `as_org`; an Anonymous IP database marks
//! hosting, VPN, proxy and Tor networks (`source.hosting`, an extension of
//! the contract that producers may also set). Fields the event already has
//! are never overwritten.
//!
//! The enricher lives for the whole process (`&'static`, leaked once at
//! start-up), so the strings it hands out borrow from the database buffers
//! and enriching an event allocates nothing.

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Reader, geoip2};
use serde::Deserialize;

use crate::config::GeoipConfig;
use crate::decode::Event;

#[derive(Debug, thiserror::Error)]
#[error("GeoIP database {path}: {source}")]
pub struct EnrichError {
    pub path: String,
    #[source]
    pub source: maxminddb::MaxMindDbError,
}

pub struct Enricher {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
    anonymous: Option<Reader<Vec<u8>>>,
}

/// The flat layout of the ip-location-db packages.
#[derive(Deserialize)]
struct FlatCity<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    city: Option<&'a str>,
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

fn open(path: &str) -> Result<Option<Reader<Vec<u8>>>, EnrichError> {
    if path.is_empty() {
        return Ok(None);
    }
    Reader::open_readfile(Path::new(path))
        .map(Some)
        .map_err(|source| EnrichError {
            path: path.to_string(),
            source,
        })
}

/// A located place: country, city, latitude, longitude, accuracy in km.
type Located<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

impl Enricher {
    /// Opens the configured databases; `None` when none is configured.
    pub fn open(cfg: &GeoipConfig) -> Result<Option<Enricher>, EnrichError> {
        let e = Enricher {
            city: open(&cfg.city_db)?,
            asn: open(&cfg.asn_db)?,
            anonymous: open(&cfg.anonymous_db)?,
        };
        Ok(
            if e.city.is_none() && e.asn.is_none() && e.anonymous.is_none() {
                None
            } else {
                Some(e)
            },
        )
    }

    /// Opens and leaks the enricher for the life of the process.
    pub fn open_static(cfg: &GeoipConfig) -> Result<Option<&'static Enricher>, EnrichError> {
        Ok(Enricher::open(cfg)?.map(|e| &*Box::leak(Box::new(e))))
    }

    fn locate(&self, ip: IpAddr) -> Option<Located<'_>> {
        let reader = self.city.as_ref()?;
        let found = reader.lookup(ip).ok()?;
        if let Ok(Some(c)) = found.decode::<geoip2::City>()
            && c.country.iso_code.is_some()
        {
            return Some((
                c.country.iso_code,
                c.city.names.english,
                c.location.latitude,
                c.location.longitude,
                c.location.accuracy_radius.map(f64::from),
            ));
        }
        let f = found.decode::<FlatCity>().ok()??;
        Some((f.country_code, f.city, f.latitude, f.longitude, None))
    }

    /// Fills missing source fields from the databases.
    pub fn enrich<'a>(&'static self, ev: &mut Event<'a>) {
        let src = &mut ev.source;
        let Some(ip) = src.ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok()) else {
            return;
        };
        let no_geo =
            src.country.is_none() && src.city.is_none() && src.lat.is_none() && src.lon.is_none();
        if no_geo && let Some((country, city, lat, lon, acc)) = self.locate(ip) {
            // Only well-formed country codes: the contract's own rule.
            src.country = country
                .filter(|c| crate::decode::country_code(c) != crate::decode::NO_COUNTRY)
                .map(Cow::Borrowed);
            src.city = city.map(Cow::Borrowed);
            src.lat = lat.filter(|v| (-90.0..=90.0).contains(v));
            src.lon = lon.filter(|v| (-180.0..=180.0).contains(v));
            if src.accuracy_km.is_none() {
                src.accuracy_km = acc;
            }
        }
        if src.asn.is_none()
            && let Some(reader) = &self.asn
            && let Ok(found) = reader.lookup(ip)
            && let Ok(Some(a)) = found.decode::<geoip2::Asn>()
        {
            src.asn = a.autonomous_system_number.map(u64::from);
            if src.as_org.is_none() {
                src.as_org = a.autonomous_system_organization.map(Cow::Borrowed);
            }
        }
        if src.hosting.is_none()
            && let Some(reader) = &self.anonymous
            && let Ok(found) = reader.lookup(ip)
            && let Ok(Some(a)) = found.decode::<geoip2::AnonymousIp>()
        {
            let flagged = [
                a.is_anonymous_vpn,
                a.is_hosting_provider,
                a.is_public_proxy,
                a.is_tor_exit_node,
            ]
            .into_iter()
            .any(|f| f == Some(true));
            src.hosting = Some(flagged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/maxmind/");

    fn enricher() -> Option<&'static Enricher> {
        if !Path::new(DIR).exists() {
            return None;
        }
        let cfg = GeoipConfig {
            city_db: format!("{DIR}GeoLite2-City-Test.mmdb"),
            asn_db: format!("{DIR}GeoLite2-ASN-Test.mmdb"),
            anonymous_db: format!("{DIR}GeoIP2-Anonymous-IP-Test.mmdb"),
        };
        Some(Enricher::open_static(&cfg).unwrap().expect("configured"))
    }

    #[test]
    fn fills_city_asn_and_anonymity() {
        let Some(e) = enricher() else {
            eprintln!("shared/testdata/maxmind not present; skipping");
            return;
        };
        let line = r#"{"id":"1","time":"2026-03-02T08:15:27Z","account":"a","type":"login","source":{"ip":"81.2.69.142"}}"#;
        let mut ev = decode(line.as_bytes()).unwrap();
        e.enrich(&mut ev);
        assert_eq!(ev.source.country.as_deref(), Some("GB"));
        assert_eq!(ev.source.city.as_deref(), Some("London"));
        assert!(ev.source.lat.is_some() && ev.source.lon.is_some());
        assert!(ev.source.accuracy_km.is_some());

        // 1.128.0.0/11 is Telstra in the ASN test data.
        let line = r#"{"id":"2","time":"2026-03-02T08:15:27Z","account":"a","type":"login","source":{"ip":"1.128.0.1"}}"#;
        let mut ev = decode(line.as_bytes()).unwrap();
        e.enrich(&mut ev);
        assert_eq!(ev.source.asn, Some(1221));
        assert!(ev.source.as_org.as_deref().unwrap().contains("Telstra"));

        // 1.2.0.0/16 is flagged anonymous in the Anonymous-IP test data.
        let line = r#"{"id":"3","time":"2026-03-02T08:15:27Z","account":"a","type":"login","source":{"ip":"1.2.0.1"}}"#;
        let mut ev = decode(line.as_bytes()).unwrap();
        e.enrich(&mut ev);
        assert_eq!(ev.source.hosting, Some(true));
    }

    #[test]
    fn never_overwrites_given_fields() {
        let Some(e) = enricher() else { return };
        let line = r#"{"id":"1","time":"2026-03-02T08:15:27Z","account":"a","type":"login","source":{"ip":"81.2.69.142","country":"ID","asn":7713}}"#;
        let mut ev = decode(line.as_bytes()).unwrap();
        e.enrich(&mut ev);
        assert_eq!(ev.source.country.as_deref(), Some("ID"));
        assert_eq!(ev.source.city, None);
        assert_eq!(ev.source.asn, Some(7713));
    }
}
