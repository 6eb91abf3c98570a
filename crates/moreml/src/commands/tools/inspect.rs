//! `moreml inspect`: a file's header and table of contents, never its values.

use crate::cli::InspectArgs;
use anyhow::Result;
use moreml_cipher::format::{self, Kind};

pub fn inspect(a: &InspectArgs) -> Result<()> {
    let info = format::read_info(&a.input)?;
    let kind = match info.kind {
        Kind::Plaintext => "plaintext",
        Kind::Ciphertext => "ciphertext (MORE 2x2, real)",
    };
    if a.json {
        let tensors: Vec<_> =
            info.entries.iter().map(|e| serde_json::json!({"name": e.name, "shape": e.shape})).collect();
        let v = serde_json::json!({
            "path": a.input,
            "kind": kind,
            "dtype": info.dtype,
            "key_id": info.key.as_ref().map(|k| k.key_id.clone()),
            "bytes": info.bytes,
            "tensors": tensors,
            "metadata": info.extra,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("file:    {}", a.input.display());
    println!("kind:    {kind}");
    println!("dtype:   {}", info.dtype);
    if let Some(k) = &info.key {
        println!("key id:  {}", k.key_id);
    }
    println!("size:    {} bytes", info.bytes);
    println!("tensors: {}", info.entries.len());
    for e in &info.entries {
        println!("  {:<24} {:?}", e.name, e.shape);
    }
    for (k, v) in &info.extra {
        println!("meta:    {k} = {v}");
    }
    Ok(())
}
