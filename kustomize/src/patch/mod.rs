//! The patch engine: strategic merge patches (`smp`, with kyaml's associative lists in
//! `assoc`) and JSON 6902 patches.

mod assoc;
pub mod json6902;
pub mod smp;
