"""Carries hand labels of media/vtest.avi through the transform that
scripts/mirror_clip.py applies (mirror left to right, crop x 5-95% and
y 10-90%, play at 15 fps; every frame kept, so frame indices stay), and
prints them as a label file for the derived clip.

A mirrored line keeps its first point first, so its side A (left walking
from the first point to the last) is the mirror of the old side B: each
crossing's direction is swapped.

    python mirror_labels.py vtest_lines.toml:centre vtest_zones.toml:centre-strip:intrusion > mirror.toml
"""
import sys
import tomllib

X0, Y0, X1, Y1 = 0.05, 0.10, 0.95, 0.90
FPS = 15.0


def point(p):
    x, y = p
    return [round(((1 - x) - X0) / (X1 - X0), 4), round((y - Y0) / (Y1 - Y0), 4)]


def fmt(p):
    return f"[{p[0]}, {p[1]}]"


def main():
    print('clip = "../../media/walkway_mirror_v2_640x428_15fps.mp4"')
    print(f"fps = {FPS}")
    swap = {"a_to_b": "b_to_a", "b_to_a": "a_to_b"}
    for spec in sys.argv[1:]:
        path, name, *kind = spec.split(":")
        with open(path, "rb") as f:
            doc = tomllib.load(f)
        if not kind:
            line = next(l for l in doc["lines"] if l["name"] == name)
            print(f'\n[[lines]]\nname = "{name}"\nline = [{", ".join(fmt(point(p)) for p in line["line"])}]\ncrossings = [')
            for c in line["crossings"]:
                opt = ", optional = true" if c.get("optional") else ""
                print(f'  {{ frame = {c["frame"]}, direction = "{swap[c["direction"]]}"{opt} }},')
            print("]")
        else:
            zone = next(z for z in doc["zones"] if z["name"] == name and z["kind"] == kind[0])
            print(f'\n[[zones]]\nname = "{name}"\nkind = "{kind[0]}"')
            if zone.get("count"):
                print(f'count = "{zone["count"]}"')
            print(f'polygon = [{", ".join(fmt(point(p)) for p in zone["polygon"])}]\nmoments = [')
            for m in zone["moments"]:
                opt = ", optional = true" if m.get("optional") else ""
                print(f'  {{ frame = {m["frame"]}{opt} }},')
            print("]")


if __name__ == "__main__":
    main()
