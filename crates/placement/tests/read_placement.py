"""Reads a rendered placement with the tool that consumes its format and prints the
credentials it finds as JSON: {"AWS_ACCESS_KEY_ID": ..., ...}.

Usage: read_placement.py FORMAT FILE
"""
import json
import sys


def from_yaml(path, *keys):
    import yaml

    with open(path) as f:
        document = yaml.safe_load(f)
    for key in keys:
        document = document[key]
    return document


def main(format_id, path):
    if format_id == "dotenv":
        import dotenv

        found = dict(dotenv.dotenv_values(path))
    elif format_id == "terraform":
        import hcl2

        with open(path) as f:
            tfvars = hcl2.load(f)
        # python-hcl2 keeps a string's quotes and escapes; unquote it as HCL's JSON-like
        # literal it is, then undo the template escapes.
        def value(name):
            raw = tfvars[name]
            if raw.startswith('"'):
                raw = json.loads(raw)
            return raw.replace("$${", "${").replace("%%{", "%{")

        found = {
            "AWS_ACCESS_KEY_ID": value("aws_access_key"),
            "AWS_SECRET_ACCESS_KEY": value("aws_secret_key"),
            "AWS_DEFAULT_REGION": value("aws_region"),
        }
        if "aws_session_token" in tfvars:
            found["AWS_SESSION_TOKEN"] = value("aws_session_token")
    elif format_id == "kubernetes":
        with open(path) as f:
            import yaml

            manifest = yaml.safe_load(f)
        assert manifest["apiVersion"] == "v1" and manifest["kind"] == "Secret", manifest
        found = dict(manifest["stringData"])
        found["metadata.name"] = manifest["metadata"]["name"]
    elif format_id == "github-actions":
        found = from_yaml(path, "env")
    elif format_id == "gitlab-ci":
        found = from_yaml(path, "variables")
    else:
        sys.exit(f"read_placement.py: no reader for {format_id}")
    print(json.dumps(found))


if __name__ == "__main__":
    main(*sys.argv[1:])
