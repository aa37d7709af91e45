//! Black-box tests: each starts the real server on a free port with a fresh database (SQLite by
//! default; PostgreSQL when `DVC_TEST_BACKEND=postgres`) and a real SMTP listener, and talks to it
//! over HTTP as a browser would. One binary, so one link step.

mod clamav;
mod hardening;
mod helpers;
mod nodes;
mod oidc;
mod smtp;

mod antivirus;
mod api;
mod asvs;
mod authorization;
mod back_office;
mod catalogue;
mod clock;
mod connections;
mod crash;
mod desk;
mod editor;
mod forms;
mod hostile;
mod hostile_uploads;
mod journey;
mod lean_connections;
mod mail;
mod migrate_data;
mod multinode;
mod national;
mod one_stop;
mod overload;
mod partners;
mod payment;
mod results;
mod retention;
mod s3;
mod security;
mod signin;
mod slow_uploads;
mod statistics;
mod uploads;
mod workflow;
