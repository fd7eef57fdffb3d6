//! Known-answer tests over objects signed by the real `ssh-keygen`, `gpg` and `git`
//! (recorded by `tests/fixtures/record.sh`; nothing here runs those tools).

mod context;
mod openpgp_accept;
mod openpgp_attacks;
mod ssh_accept;
mod ssh_attacks;
