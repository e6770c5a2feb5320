"""Schemathesis hooks for tests/contract.rs: uploads are DER bytes sent as
application/pkcs7-mime, which schemathesis writes as it writes any binary body."""
import schemathesis

schemathesis.serializer.alias("application/pkcs7-mime", "application/octet-stream")
