pub mod mapping;
pub mod sign;
pub mod vc;
pub mod wire;
