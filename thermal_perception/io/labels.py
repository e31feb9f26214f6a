"""Labelled thermal images: box labels read from the formats real datasets ship (pure Python).

Two layouts are read into one :class:`LabelledImage` list:

- **COCO JSON** (our own labelled sets under ``data/``, and many published ones): a folder
  with ``labels.json`` (``images`` with ``file_name``, ``width``, ``height`` and optional
  ``altitude_m``, ``pitch_deg``, ``sequence``, ``frame``; ``annotations`` with ``image_id``,
  ``category_id``, ``bbox`` = [x, y, w, h] pixels, optional ``track_id`` (the object's
  identity through a sequence, for MOTA); ``categories`` with ``id``, ``name``),
  the image files next to it or under ``images/``. HIT-UAV's ``normal_json`` files say
  ``annotation`` instead of ``annotations``; both are accepted.
- **YOLO txt** as Roboflow and Ultralytics export it: ``data.yaml`` (``names``: class names by
  index; optional ``palette``: the false-colour palette the images were drawn with, see
  :mod:`thermal_perception.core.display.palette_inversion`) and ``<split>/images/*.jpg|png`` with
  ``<split>/labels/<stem>.txt`` (one ``class cx cy w h`` line per box, fractions of the image
  size); splits ``train``, ``val`` (folder ``val`` or ``valid``) and ``test``.
- **HIT-UAV** as its repository ships it (``normal_xml/``: Pascal VOC ``Annotations/*.xml``,
  ``JPEGImages/``, ``ImageSets/Main/{train,val,test}.txt``); each file name
  ``T_ALTITUDE_PITCH_W_ID.jpg`` gives the altitude (m) and camera pitch (deg, 90 = nadir).

Class names are mapped to the detector's labels by :data:`CLASS_MAP` (case-insensitive):
person, vehicle (car, truck, bus, "OtherVehicle"), bicycle, animal; names mapped to ``None``
(e.g. HIT-UAV's "DontCare") become *ignore* regions, where a detection counts neither as
right nor as wrong.
"""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

CLASS_MAP: dict[str, str | None] = {
    "person": "person", "people": "person", "pedestrian": "person", "human": "person",
    "car": "vehicle", "vehicle": "vehicle", "othervehicle": "vehicle", "truck": "vehicle",
    "bus": "vehicle", "van": "vehicle", "motorcycle": "vehicle",
    "bicycle": "bicycle", "bike": "bicycle", "cyclist": "bicycle",
    "animal": "animal", "dog": "animal", "deer": "animal", "cow": "animal", "horse": "animal",
    "sheep": "animal", "bird": "animal", "possum": "animal", "cat": "animal",
    "cheetah": "animal", "wolf": "animal", "fox": "animal", "elephant": "animal",
    "dontcare": None, "ignore": None,
}
SPLITS = ("train", "val", "test")
_EXTRA_KEYS = ("light", "split", "palette", "source")  # image entries kept in ``extra``
_HIT_UAV_NAME = re.compile(r"^(?P<light>\d)_(?P<alt>\d+)_(?P<pitch>\d+)_(?P<weather>\d)_"
                           r"(?P<id>\d+)$")


class LabelError(ValueError):
    """A label file or folder that cannot be read; the message names the file and the format."""


@dataclass
class LabelledImage:
    """One image and its boxes (pixels, x1/y1 exclusive) with the detector's labels."""

    path: Path
    width: int
    height: int
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ignore: list[tuple[float, float, float, float]] = field(default_factory=list)
    altitude_m: float | None = None
    pitch_deg: float | None = None
    sequence: str | None = None
    frame: int | None = None
    extra: dict = field(default_factory=dict)
    box_ids: list[int | None] = field(default_factory=list)  # object identity per box (MOT)


def map_class(name: str) -> str | None:
    key = re.sub(r"[^a-z]", "", name.lower())
    if key not in CLASS_MAP:
        raise LabelError(f"unknown class name {name!r}; known: {sorted(CLASS_MAP)}")
    return CLASS_MAP[key]


def hit_uav_meta(stem: str) -> dict:
    """Altitude (m), pitch (deg) and the day/night code of a HIT-UAV file name stem."""
    m = _HIT_UAV_NAME.match(stem)
    if not m:
        return {}
    return {"altitude_m": float(m["alt"]), "pitch_deg": float(m["pitch"]),
            "light": "night" if m["light"] == "1" else "day"}


def read_hit_uav(root: str | Path, split: str) -> list[LabelledImage]:
    """One split of a HIT-UAV checkout (the repository's root or its ``normal_xml`` folder)."""
    root = Path(root)
    base = root / "normal_xml" if (root / "normal_xml").is_dir() else root
    listing = base / "ImageSets" / "Main" / f"{split}.txt"
    if split not in SPLITS or not listing.is_file():
        raise LabelError(f"{listing}: no HIT-UAV split list (expected the repository's "
                         f"normal_xml/ImageSets/Main/{{train,val,test}}.txt)")
    out = []
    for stem in listing.read_text().split():
        xml_path = base / "Annotations" / f"{stem}.xml"
        try:
            tree = ET.parse(xml_path).getroot()
        except (OSError, ET.ParseError) as exc:
            raise LabelError(f"{xml_path}: not a readable Pascal VOC annotation ({exc})") from None
        size = tree.find("size")
        width = int(size.findtext("width")) if size is not None else 640
        height = int(size.findtext("height")) if size is not None else 512
        item = LabelledImage(base / "JPEGImages" / f"{stem}.jpg", width, height,
                             extra={"split": split})
        for obj in tree.iter("object"):
            box = obj.find("bndbox")
            if box is None:
                continue
            x0, y0, x1, y1 = (float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            _add(item, map_class(obj.findtext("name") or ""), (x0, y0, x1, y1))
        meta = hit_uav_meta(stem)
        item.altitude_m, item.pitch_deg = meta.get("altitude_m"), meta.get("pitch_deg")
        if meta:
            item.extra["light"] = meta["light"]
        out.append(item)
    return out


def _add(item: LabelledImage, label: str | None, box: tuple[float, float, float, float],
         box_id: int | None = None) -> None:
    if label is None:
        item.ignore.append(box)
    else:
        item.boxes.append(box)
        item.labels.append(label)
        item.box_ids.append(box_id)


def read_coco(folder: str | Path) -> list[LabelledImage]:
    """A folder with ``labels.json`` (see the module docstring), images beside it or under
    ``images/``."""
    folder = Path(folder)
    path = folder / "labels.json" if folder.is_dir() else folder
    try:
        doc = json.loads(path.read_text())
        images = doc["images"]
        annotations = doc.get("annotations", doc.get("annotation", []))
        categories = {c["id"]: c["name"] for c in doc["categories"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabelError(f"{path}: not a COCO label file with images, annotations and "
                         f"categories ({type(exc).__name__}: {exc})") from None
    base = path.parent
    items: dict[int, LabelledImage] = {}
    for im in images:
        name = im["file_name"]
        p = base / name if (base / name).exists() else base / "images" / name
        item = LabelledImage(p, int(im["width"]), int(im["height"]),
                             altitude_m=im.get("altitude_m"), pitch_deg=im.get("pitch_deg"),
                             sequence=im.get("sequence"), frame=im.get("frame"),
                             extra={k: v for k, v in im.items() if k in _EXTRA_KEYS})
        if item.altitude_m is None:
            meta = hit_uav_meta(Path(name).stem)
            item.altitude_m, item.pitch_deg = meta.get("altitude_m"), meta.get("pitch_deg")
            if meta:
                item.extra.setdefault("light", meta["light"])
        items[im["id"]] = item
    for a in annotations:
        x, y, w, h = (float(v) for v in a["bbox"])
        track = a.get("track_id")
        _add(items[a["image_id"]], map_class(categories[a["category_id"]]), (x, y, x + w, y + h),
             int(track) if track is not None else None)
    return list(items.values())


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG or JPEG from its header, without decoding it."""
    with open(path, "rb") as f:
        head = f.read(26)
        if head[:8] == b"\x89PNG\r\n\x1a\n":
            return struct.unpack(">II", head[16:24])
        if head[:2] == b"\xff\xd8":
            f.seek(2)
            while True:
                marker = f.read(4)
                if len(marker) < 4 or marker[0] != 0xFF:
                    break
                length = struct.unpack(">H", marker[2:])[0]
                if marker[1] in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB,
                                 0xCD, 0xCE, 0xCF):
                    h, w = struct.unpack(">HH", f.read(5)[1:])
                    return w, h
                f.seek(length - 2, 1)
    raise LabelError(f"{path}: not a PNG or JPEG image with a readable size")


def read_yolo(root: str | Path, split: str) -> list[LabelledImage]:
    """One split of a YOLO-txt dataset folder (``data.yaml`` beside the split folders)."""
    import yaml  # PyYAML: a dependency of the package already

    root = Path(root)
    try:
        meta = yaml.safe_load((root / "data.yaml").read_text())
        names = meta["names"]
        names = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise LabelError(f"{root / 'data.yaml'}: not a YOLO data file with class names "
                         f"({type(exc).__name__}: {exc})") from None
    folders = {"val": ("val", "valid")}.get(split, (split,))
    base = next((root / f for f in folders if (root / f / "images").is_dir()), None)
    if split not in SPLITS or base is None:
        raise LabelError(f"{root}: no {split!r} split (expected {root}/{folders[-1]}/images "
                         "and .../labels)")
    mapped = [map_class(n) for n in names]
    palette = meta.get("palette")
    out = []
    for image in sorted(p for p in (base / "images").iterdir()
                        if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
        width, height = _image_size(image)
        item = LabelledImage(image, width, height, extra={"split": split})
        if palette:
            item.extra["palette"] = str(palette)
        label_file = base / "labels" / f"{image.stem}.txt"
        lines = label_file.read_text().splitlines() if label_file.is_file() else []
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                k, cx, cy, w, h = line.split()[:5]
                cls = mapped[int(k)]
                cx, cy, w, h = float(cx) * width, float(cy) * height, \
                    float(w) * width, float(h) * height
            except (ValueError, IndexError):
                raise LabelError(f"{label_file}:{n}: expected 'class cx cy w h' with a class "
                                 f"index below {len(names)}, got {line!r}") from None
            _add(item, cls, (max(cx - w / 2, 0.0), max(cy - h / 2, 0.0),
                             min(cx + w / 2, width), min(cy + h / 2, height)))
        out.append(item)
    return out


def write_coco(items: list[LabelledImage], path: str | Path, relative_to: str | Path) -> None:
    """Write ``items`` as a COCO label file (image paths relative to ``relative_to``)."""
    names = sorted({lab for it in items for lab in it.labels} | {"ignore"})
    cat_id = {n: i + 1 for i, n in enumerate(names)}
    images, annotations = [], []
    for i, it in enumerate(items, start=1):
        entry = {"id": i, "file_name": str(Path(it.path).relative_to(relative_to)),
                 "width": it.width, "height": it.height}
        for key in ("altitude_m", "pitch_deg", "sequence", "frame"):
            if getattr(it, key) is not None:
                entry[key] = getattr(it, key)
        entry.update({k: v for k, v in it.extra.items() if k in _EXTRA_KEYS})
        images.append(entry)
        ids = it.box_ids if len(it.box_ids) == len(it.boxes) else [None] * len(it.boxes)
        for box, lab, track in [*zip(it.boxes, it.labels, ids, strict=True),
                                *((b, "ignore", None) for b in it.ignore)]:
            x0, y0, x1, y1 = box
            annotations.append({"id": len(annotations) + 1, "image_id": i,
                                "category_id": cat_id[lab],
                                "bbox": [x0, y0, x1 - x0, y1 - y0]})
            if track is not None:
                annotations[-1]["track_id"] = track
    doc = {"images": images, "annotations": annotations,
           "categories": [{"id": cat_id[n], "name": n} for n in names]}
    Path(path).write_text(json.dumps(doc, indent=1))


def read_dataset(path: str | Path, split: str = "test") -> list[LabelledImage]:
    """Labelled images of a dataset folder: a COCO ``labels.json`` folder, or a YOLO folder or
    HIT-UAV checkout (then ``split``). Anything else is a :class:`LabelError` naming the formats."""
    p = Path(path)
    if (p / "labels.json").is_file() or (p.is_file() and p.suffix == ".json"):
        return read_coco(p)
    if (p / "normal_xml").is_dir() or (p / "ImageSets" / "Main").is_dir():
        return read_hit_uav(p, split)
    if (p / "data.yaml").is_file():
        return read_yolo(p, split)
    raise LabelError(f"{p}: no labels found; expected a folder with labels.json (COCO boxes), "
                     "a YOLO folder (data.yaml, <split>/images, <split>/labels) or a HIT-UAV "
                     "checkout (normal_xml/ImageSets/Main/<split>.txt)")
