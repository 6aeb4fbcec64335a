//! Integration cases, grouped by what they exercise. Every case runs the binary
//! in its own temporary directory against its own server on 127.0.0.1.

mod budgets;
mod compressed;
mod concurrency;
mod config_file;
mod cookies;
mod digests;
mod errors;
mod generated;
mod github;
mod http;
mod http2;
mod in_process;
mod limits;
mod list;
mod mirrors;
mod naming;
mod netrc;
mod output;
mod properties;
mod proxy;
mod reliability;
mod safety;
mod secrets;
mod shard;
mod snapshots;
mod split;
mod state;
mod stdout;
mod template;
mod terminal;
mod tls;
mod trust_server_names;
