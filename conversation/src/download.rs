//! Downloads made in the page: decrypted attachments and the key's backup file.

/// An object URL for a download of `bytes`, as the file's checked media type.
pub fn url(bytes: &[u8], media_type: &str) -> String {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(media_type);
    web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .ok()
        .and_then(|blob| web_sys::Url::create_object_url_with_blob(&blob).ok())
        .unwrap_or_default()
}
