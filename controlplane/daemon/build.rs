//! Compiles the admin API (`proto/xlns/admin/v1/admin.proto`) with protox,
//! a protobuf compiler in Rust, so building needs no `protoc`; tonic's
//! generator writes the messages, the server and the client to OUT_DIR,
//! with the descriptor set that gRPC reflection serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/xlns/admin/v1/admin.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // What gRPC reflection serves (tonic::include_file_descriptor_set!).
    std::fs::write(
        out.join("admin_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        // lnsctl --json prints the messages as they are.
        .type_attribute(".xlns.admin.v1", "#[derive(serde::Serialize)]")
        .compile_fds(fds)?;
    Ok(())
}
