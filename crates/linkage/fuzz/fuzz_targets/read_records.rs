//! Any bytes after a valid header: the reader must not panic, and must return one record per CSV row it saw.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = linkage::INPUT_HEADER.join(",").into_bytes();
    input.push(b'\n');
    input.extend_from_slice(data);
    if let Ok((records, _issues)) = linkage::read_records(input.as_slice(), None) {
        let mut output = Vec::new();
        let cluster_of: Vec<u32> = (0..records.len() as u32).collect();
        let _ = linkage::write_clusters(&mut output, &records, &cluster_of);
    }
});
