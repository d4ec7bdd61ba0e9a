"""Whole images, stacks and files with a hand-set stripe classifier (see _helpers_predict)."""

import numpy as np
import pytest
from PIL import Image

from _helpers_predict import CLASSES, stripe_meta, stripe_model, stripes
from napari_convnet.core.prediction import (
    classify_image,
    classify_stack,
    predict_chunks,
    predict_files,
)
from napari_convnet.errors import DatasetError


@pytest.fixture(scope="module")
def model():
    return stripe_model()


def test_classify_image_grey_rgb_and_channels_first(model):
    meta = stripe_meta()
    result = classify_image(model, meta, stripes((16, 16), vertical=False))
    assert result["class_name"] == "horizontal" and result["class_index"] == 0
    assert result["probability"] > 0.99 and len(result["probabilities"]) == 2
    assert abs(sum(result["probabilities"]) - 1) < 1e-5
    # larger than the input and uint8 RGB (Y, X, C): resized, averaged to grey
    rgb = np.repeat((stripes((40, 40), vertical=True, period=8) * 255).astype(np.uint8)[..., None],
                    3, axis=-1)
    assert classify_image(model, meta, rgb)["class_name"] == "vertical"
    # (C, Y, X) with an explicit channel axis
    assert classify_image(model, meta, rgb.transpose(2, 0, 1), channel_axis=0)["class_index"] == 1


def test_classify_image_refuses_stacks_and_wrong_channels(model):
    with pytest.raises(DatasetError, match="one 2D image.*classify_stack"):
        classify_image(model, stripe_meta(), np.zeros((6, 16, 16), np.float32))
    two = stripe_model(channels=2)
    with pytest.raises(DatasetError, match="takes 2 channel.*has 3"):
        classify_image(two, stripe_meta(channels=2), np.zeros((16, 16, 3), np.float32))
    # grey is repeated to the model's 2 channels
    assert classify_image(two, stripe_meta(channels=2), stripes((16, 16), True))["class_index"] == 1


def test_classify_stack_every_slice_in_batches(model):
    truth = np.arange(11) % 3 == 0
    stack = np.stack([stripes((16, 16), bool(v), seed=i) for i, v in enumerate(truth)])
    events = []
    result = classify_stack(model, stripe_meta(stack_rule="max"), stack, batch_size=4,
                            on_event=events.append)
    assert result["class_index"].tolist() == truth.astype(int).tolist()
    assert result["predicted"] == [CLASSES[int(v)] for v in truth]
    assert result["probabilities"].shape == (11, 2)
    assert result["probabilities"].dtype == np.float32 and not result["stopped"]
    assert [e["done"] for e in events] == [4, 8, 11]
    assert {e["stage"] for e in events} == {"classifying slices"}
    # (T, Z, Y, X, C) RGB and (N, C, Y, X) with channel_axis give the same answers
    rgb = np.repeat(stack[..., None], 3, axis=-1)
    again = classify_stack(model, stripe_meta(), rgb[:10].reshape(2, 5, 16, 16, 3))
    assert again["class_index"].tolist() == result["class_index"][:10].tolist()
    moved = classify_stack(model, stripe_meta(), rgb.transpose(0, 3, 1, 2), channel_axis=1)
    np.testing.assert_allclose(moved["probabilities"], result["probabilities"], atol=1e-5)


def test_classify_stack_stop_returns_slices_done(model):
    stack = np.stack([stripes((16, 16), True, seed=i) for i in range(10)])
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 2

    result = classify_stack(model, stripe_meta(), stack, batch_size=3, should_stop=should_stop)
    assert result["stopped"] and len(result["class_index"]) == 6 == len(result["predicted"])
    with pytest.raises(DatasetError, match="needs \\(N, Y, X\\)"):
        classify_stack(model, stripe_meta(), np.zeros((16, 16)))
    with pytest.raises(DatasetError, match="after the first"):
        classify_stack(model, stripe_meta(), stack, channel_axis=0)


def test_predict_chunks_pads_the_tail_and_rejects_bad_batch_size(model):
    x = np.stack([stripes((16, 16), i % 2 == 1, seed=i) for i in range(5)])[..., None]
    seen = []

    def make_batch(start, stop):
        seen.append((start, stop))
        return x[start:stop]

    probs, stopped = predict_chunks(model, 5, make_batch, 2, "test")
    assert seen == [(0, 2), (2, 4), (4, 5)] and not stopped
    assert probs.argmax(axis=1).tolist() == [0, 1, 0, 1, 0]
    with pytest.raises(ValueError, match="batch_size"):
        predict_chunks(model, 5, make_batch, 0, "test")


def test_predict_files_rows_errors_and_stop(model, tmp_path):
    for i in range(4):
        img = (stripes((16, 16), i % 2 == 1, seed=i) * 255).astype(np.uint8)
        Image.fromarray(img).save(tmp_path / f"img{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    result = predict_files(model, stripe_meta(), [tmp_path], batch_size=2)
    assert [r["predicted"] for r in result["rows"]] == ["horizontal", "vertical"] * 2
    assert len(result["errors"]) == 1 and not result["stopped"]
    stopped = predict_files(model, stripe_meta(), [tmp_path], should_stop=lambda: True)
    assert stopped["stopped"] and stopped["rows"] == []
