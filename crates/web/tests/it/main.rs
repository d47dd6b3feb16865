//! The API over real HTTP: a server on a loopback port 0 in front of a real registry, on both stores.

mod api;
mod portal;
mod support;
