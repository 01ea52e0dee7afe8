//! Method descriptors: the path and whether a retry after the request was sent is safe
//! (`NO_SIDE_EFFECTS` or `IDEMPOTENT` in the proto).

pub use platform_modules::Method;

// `method::<module>::<RPC>` for each core module, from its manifest.
include!(concat!(env!("OUT_DIR"), "/methods.rs"));

/// The core modules' manifests (file, text), as built in.
pub mod manifests {
    include!(concat!(env!("OUT_DIR"), "/manifests.rs"));
}

#[cfg(test)]
mod tests {
    /// Each core manifest lists exactly its proto service's RPCs, with the proto's
    /// idempotency (`IDEMPOTENT` or `NO_SIDE_EFFECTS`): the manifest cannot drift from the
    /// contract.
    #[test]
    fn the_manifests_match_the_protos() {
        let root =
            std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"))
                .join("../../proto");
        for (file, text) in super::manifests::MANIFESTS {
            let manifest = platform_modules::Manifest::parse(file, text).expect("manifest");
            let (package, service) = manifest.service.rsplit_once('.').expect("service");
            let proto_file = root
                .join(package.replace('.', "/"))
                .join(format!("{}.proto", manifest.name));
            let proto = std::fs::read_to_string(&proto_file).expect("proto");
            let body = proto
                .split(&format!("service {service} {{"))
                .nth(1)
                .expect("the service in its proto");
            let mut in_proto = std::collections::BTreeMap::new();
            for rpc in body.split("\n  rpc ").skip(1) {
                let name = rpc.split('(').next().expect("name").trim().to_owned();
                let until_next = rpc.split("\n  rpc ").next().unwrap_or(rpc);
                in_proto.insert(name, until_next.contains("idempotency_level"));
            }
            let in_manifest: std::collections::BTreeMap<String, bool> = manifest
                .rpcs
                .iter()
                .map(|r| (r.name.clone(), r.idempotent))
                .collect();
            assert_eq!(
                in_manifest,
                in_proto,
                "{file} against {}",
                proto_file.display()
            );
        }
    }
}
