//! The unit tests of `examples/redis_server`'s pure parts (the RESP codec, the glob matcher),
//! compiled here so `cargo test` runs them: an example's own tests run only with
//! `cargo test --example`, and `test = true` would stop `cargo test` from building the
//! example binary the other redis tests start.

#[allow(dead_code)]
#[path = "../examples/redis_server/resp.rs"]
mod resp;
#[allow(dead_code)]
#[path = "../examples/redis_server/store.rs"]
mod store;
