//! Black-box tests: each starts the real server on a free port with a fresh database (SQLite by
//! default; PostgreSQL when `DVC_TEST_BACKEND=postgres`) and a real SMTP listener, and talks to it
//! over HTTP as a browser would. One binary, so one link step.

mod helpers;
mod smtp;

mod api;
mod back_office;
mod catalogue;
mod crash;
mod journey;
mod mail;
mod security;
mod uploads;
