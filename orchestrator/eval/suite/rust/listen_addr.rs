//! Reads the address the metrics exporter listens on from its config file.

use std::fmt;
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

#[derive(Debug)]
pub enum ConfigError {
    Io(std::io::Error),
    Missing(&'static str),
    Invalid { key: &'static str, value: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io(err) => write!(f, "cannot read the config: {err}"),
            ConfigError::Missing(key) => write!(f, "{key}: missing"),
            ConfigError::Invalid { key, value } => write!(f, "{key}: invalid value {value:?}"),
        }
    }
}

fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

/// `host = ...` and `port = ...` lines; host defaults to 127.0.0.1.
pub fn listen_address(path: &Path) -> Result<SocketAddr, ConfigError> {
    let text = fs::read_to_string(path).map_err(ConfigError::Io)?;
    let host = value(&text, "host").unwrap_or("127.0.0.1");
    let ip: IpAddr = host
        .parse()
        .map_err(|_| ConfigError::Invalid { key: "host", value: host.to_string() })?;
    let port_text = value(&text, "port").ok_or(ConfigError::Missing("port"))?;
    let port: u16 = port_text.parse().unwrap();
    if port == 0 {
        return Err(ConfigError::Invalid { key: "port", value: port_text.to_string() });
    }
    Ok(SocketAddr::new(ip, port))
}
