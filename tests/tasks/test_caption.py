"""rnnkit caption train | predict | eval through the CLI and the Captioner API: the run's
files, eval --json (BLEU-1..4 and CIDEr against pycocoevalcap's, distinct captions,
localization), predict on image files with an attention map, checkpoints that rebuild the
model alone, exact resume, and bad input as one line with exit 2."""

import json

import numpy as np
import pytest
from cli_helpers import fails
from PIL import Image

from rnnkit.cli import main
from rnnkit.tasks.caption import Captioner, load_model
from rnnkit.tasks.caption.config import Config
from rnnkit.tasks.caption.data import load_splits
from rnnkit.train.checkpoint import load_checkpoint

TINY = (
    "--dataset scenes --scenes 48 --scenes-folder /nonexistent/fashion-mnist --channels 16 "
    "--hidden-size 24 --embedding-size 8 --attention-size 8 --batch-size 8 --max-steps 4 "
    "--eval-every 2 --warmup-steps 0 --schedule constant --threads 1 --no-tensorboard --beam 2 "
    "--init-state mean --pretrain-steps 0"
).split()  # the paper's first state: this 4-step model writes a noun, so localization is scored
# (with soft's default, zero, it writes empty captions, and there is no noun to score)


@pytest.fixture(scope="module")
def soft_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("caption") / "soft"
    assert main(["caption", "train", "--out", str(out), *TINY]) == 0
    return out


def test_train_writes_the_run_and_scores_the_test_split(soft_run, capsys):
    for name in ("attention.png", "best.safetensors", "last.safetensors", "summary.json"):
        assert (soft_run / name).is_file(), name
    summary = json.loads((soft_run / "summary.json").read_text())
    keys = {"test_bleu1", "test_bleu4", "test_cider", "test_n", "test_distinct_captions",
            "test_localization", "test_localization_chance"}  # fmt: skip
    assert keys <= set(summary) and summary["test_n"] == 4
    _, meta = load_checkpoint(soft_run / "best.safetensors", task="caption")
    assert meta["names"][0] == "square" and "squares" in meta["vocabulary"]["words"]


def test_eval_json_matches_the_api_and_pycocoevalcap(soft_run, capsys):
    capsys.readouterr()
    assert main(["caption", "eval", str(soft_run), "--json", "--beam", "1"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"bleu1", "bleu2", "bleu3", "bleu4", "cider", "n", "distinct_captions"} <= set(scores)
    assert 0 <= scores["localization"] <= 1 and 0 < scores["localization_chance"] < 1
    captioner = Captioner.load(soft_run)
    test = load_splits(captioner.cfg, test_only=True).test
    hyps = captioner.caption(test.images, beam=1)
    from rnnkit.metrics.captioning import caption_scores

    assert caption_scores(hyps, test.captions)["cider"] == pytest.approx(scores["cider"])
    assert scores["distinct_captions"] == pytest.approx(len(set(hyps)) / len(hyps))


def test_predict_image_files_with_an_attention_map(soft_run, tmp_path, capsys):
    test = load_splits(load_model(soft_run).cfg, test_only=True).test
    paths = []
    for i in range(2):
        Image.fromarray(test.images[i, 0]).save(tmp_path / f"s{i}.png")
        paths.append(str(tmp_path / f"s{i}.png"))
    capsys.readouterr()
    png = tmp_path / "map.png"
    assert main(["caption", "predict", str(soft_run), *paths, "--attention-map", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and png.stat().st_size > 1000
    # the checkpoint alone rebuilds the model: the same captions from the arrays
    assert Captioner.load(soft_run / "best.safetensors").caption(test.images[:2]) == lines
    fails(["caption", "predict", str(soft_run), *paths, "--attention-map", str(png)], capsys,
          "the file exists; pass --overwrite")  # fmt: skip
    fails(["caption", "predict", str(soft_run), str(tmp_path / "absent.png")], capsys,
          "absent.png: no such image file")  # fmt: skip
    (tmp_path / "bad.png").write_bytes(b"not an image")
    fails(["caption", "predict", str(soft_run), str(tmp_path / "bad.png")], capsys,
          "cannot read an image")  # fmt: skip
    fails(["caption", "predict", str(soft_run), paths[0], "--beam", "0"], capsys,
          "--beam: expected an int >= 1")  # fmt: skip


def test_resume_continues_exactly(soft_run, tmp_path):
    part = tmp_path / "part"
    argv = ["caption", "train", *TINY, "--out", str(part)]
    assert main([*argv, "--max-steps", "2"]) == 0
    assert main([*argv, "--resume"]) == 0
    a, _ = load_checkpoint(soft_run / "last.safetensors", task="caption")
    b, _ = load_checkpoint(part / "last.safetensors", task="caption")
    assert all(np.allclose(a[k], b[k]) for k in a if k.startswith("model."))


def test_bad_input_is_one_line(tmp_path, capsys):
    fails(["caption", "train", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "no.json"),
           "--images", str(tmp_path)], capsys, "no.json: no such file")  # fmt: skip
    fails(["caption", "train", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "x.json")],
          capsys, "pass --images FOLDER")  # fmt: skip
    fails(["caption", "train", "--out", str(tmp_path / "r")], capsys, "no data: pass --dataset")
    fails(["caption", "train", "--attention", "glimpse"], capsys, "invalid choice")
    fails(["caption", "eval", str(tmp_path / "absent")], capsys, "absent")
    assert not (tmp_path / "r").exists()


def test_captioner_fits_arrays_and_refuses_bad_shapes():
    scenes = load_splits(Config(dataset="scenes", scenes=40, scenes_folder="/nonexistent")).train
    # mix 0: every batch samples its locations, so the REINFORCE baseline surely moves
    kw = dict(channels=16, hidden_size=24, embedding_size=8, attention_size=8, batch_size=8,
              max_steps=3, eval_every=3, warmup_steps=0, threads=1, attention="hard",
              test_fraction=0.1, mix=0.0)  # fmt: skip
    captioner = Captioner(**kw).fit(scenes.images[:, 0], scenes.captions)
    assert captioner.summary["reinforce_grad_variance_baseline"] >= 0
    assert captioner.loaded.model.baseline.item() > 0  # the REINFORCE baseline was saved
    assert len(captioner.caption(scenes.images[:3], beam=2)) == 3
    scores = captioner.evaluate()
    assert scores["n"] == 4 and "localization" not in scores
    with pytest.raises(ValueError, match=r"expected shape \(N, 1, 64, 64\)"):
        captioner.caption(np.zeros((2, 1, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="N lists of captions"):
        Captioner(**kw).fit(scenes.images, scenes.captions[:3])


def test_train_on_a_coco_json_of_color_images(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    images, annotations = [], []
    for i in range(12):
        color = (200, 30, 30) if i % 2 else (30, 30, 200)
        Image.new("RGB", (40, 30), color).save(folder / f"{i}.jpg")
        images.append({"id": i, "file_name": f"{i}.jpg"})
        annotations.append({"image_id": i, "caption": "A red box." if i % 2 else "A blue box."})
    data = tmp_path / "captions_train.json"
    data.write_text(json.dumps({"images": images, "annotations": annotations}))
    out = tmp_path / "run"
    tiny = [a for a in TINY if a not in ("--dataset", "scenes", "--scenes-folder")]
    tiny = [a for a in tiny if not a.startswith("/nonexistent") and a != "--scenes" and a != "48"]
    argv = ["caption", "train", "--out", str(out), "--data", str(data), "--images", str(folder),
            "--image-size", "16", "--min-count", "1", "--test-fraction", "0.3", *tiny]  # fmt: skip
    assert main(argv) == 0
    assert "test (" in capsys.readouterr().out
    assert load_model(out).meta["in_channels"] == 3
    assert main(["caption", "predict", str(out), str(folder / "1.jpg")]) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and set(line.split()) <= {"a", "red", "blue", "box", "<unk>"}


def test_auto_first_state_is_saved_resolved():
    """config.json keeps the first state auto chose, so a later change of AUTO_INIT leaves the
    runs saved before it as they were trained."""
    from rnnkit.tasks.caption.config import AUTO_INIT
    from rnnkit.train.config import config_to_dict

    for attention, kind in AUTO_INIT.items():
        cfg = Config(attention=attention)
        assert cfg.init_state == kind == cfg.first_state
        assert config_to_dict(cfg)["init_state"] == kind
    assert Config(attention="soft", init_state="mean").init_state == "mean"
