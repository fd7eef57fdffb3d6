//! The patch engine: strategic merge patches and JSON 6902 patches.

pub mod json6902;
pub mod smp;
