"""Validates a CycloneDX document against the 1.6 JSON schema with cyclonedx-python-lib's
validator, and parses every purl with packageurl-python; prints one line per component:
type, namespace, name, version, qualifiers. Exit 1 on any schema error or unparsable purl."""
import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

text = open(sys.argv[1]).read()
errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
if errors:
    print(f"schema: {errors}")
    sys.exit(1)
for component in json.loads(text)["components"]:
    purl = PackageURL.from_string(component["purl"])
    print(purl.type, purl.namespace or "-", purl.name, purl.version or "-", json.dumps(purl.qualifiers, sort_keys=True))
