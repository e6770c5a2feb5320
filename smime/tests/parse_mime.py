"""Parses a MIME entity with Python's email package (an independent parser) and prints
what a mail client would see, as JSON: subject, parts with their types, file names and
decoded bytes (base64), and any defects the parser noticed."""
import base64
import email
import json
import sys
from email import policy

message = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=policy.default)
parts = []
for part in message.iter_parts():
    parts.append({
        "content_type": part.get_content_type(),
        "charset": part.get_content_charset(),
        "disposition": part.get_content_disposition(),
        "filename": part.get_filename(),
        "content": base64.b64encode(part.get_payload(decode=True)).decode(),
    })
defects = [str(d) for p in message.walk() for d in p.defects]
json.dump({
    "subject": str(message["subject"]),
    "date": str(message["date"]),
    "content_type": message.get_content_type(),
    "parts": parts,
    "defects": defects,
}, sys.stdout)
