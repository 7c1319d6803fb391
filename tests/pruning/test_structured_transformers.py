"""Channel pruning of HF transformers built from configs: attention heads (with grouped-query attention)
and MLP hidden sizes; optionally the hidden size itself. HF models do not trace with torch.fx, so the
graph is recorded from one run of the example input."""
import pytest
import torch

import nnslim
from nnslim.pruning import PruneConfig, prune
from structured_helpers import check_shrink_matches_zeroed

transformers = pytest.importorskip("transformers")


def _bert(cls=None, **kw):
    torch.manual_seed(0)
    cfg = transformers.BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=96,
                                  vocab_size=100, max_position_embeddings=32, **kw)
    return (cls or transformers.BertModel)(cfg).eval()


def _llama():
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                   num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(cfg).eval()


def _vit():
    torch.manual_seed(0)
    cfg = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, intermediate_size=96)
    return transformers.ViTModel(cfg).eval()


def _inputs(name):
    if name == "vit":
        return {"pixel_values": torch.randn(1, 3, 32, 32)}
    return {"input_ids": torch.randint(0, 100, (1, 12))}


BUILD = {"bert": _bert, "llama": _llama, "vit": _vit}


class _Wrap(torch.nn.Module):
    """HF models return ModelOutput objects; the reference check wants one tensor."""

    def __init__(self, model, key):
        super().__init__()
        self.model, self.key = model, key

    def forward(self, kwargs):
        return self.model(**kwargs)[self.key]


@pytest.mark.parametrize("name", ["bert", "llama", "vit"])
def test_heads_and_mlp_prune_and_compute_what_zeroed_heads_compute(name):
    model = BUILD[name]()
    x = _inputs(name)
    key = "logits" if name == "llama" else "last_hidden_state"
    wrapped = _Wrap(model, key).eval()
    plan, removed = check_shrink_matches_zeroed(wrapped, (x,))
    assert removed


@pytest.mark.parametrize("name", ["bert", "llama", "vit"])
def test_half_the_heads_go_shapes_hold_and_the_file_reloads(name, tmp_path):
    model = BUILD[name]()
    x = _inputs(name)
    key = "logits" if name == "llama" else "last_hidden_state"
    shape = model(**x)[key].shape
    prune(model, PruneConfig(sparsity=0.5, pattern="channel", scope="layer"), example_input=x)
    out = model(**x)[key]
    assert out.shape == shape
    if name == "llama":
        attn = model.model.layers[0].self_attn
        assert (attn.q_proj.out_features, attn.k_proj.out_features) == (32, 8)  # 1 of 2 kv groups, 4 of 8 q heads
        assert model.model.layers[0].mlp.down_proj.in_features == 48
    elif name == "vit":  # transformers 5 lays ViT out Llama-style (q/k/v/o_proj)
        assert model.layers[0].attention.q_proj.out_features == 32
        assert model.layers[0].mlp.fc1.out_features == 48
    else:
        attn = model.encoder.layer[0].attention.self
        assert attn.query.out_features == 32 and attn.num_attention_heads == 2
    path = tmp_path / "pruned.nnslim"
    nnslim.save(model, path)
    loaded = nnslim.load(path, BUILD[name]())
    torch.testing.assert_close(loaded(**x)[key], out, rtol=0, atol=0)


def test_hidden_size_prunes_embeddings_norms_and_every_residual_stream_together(tmp_path):
    model = _bert(transformers.BertForSequenceClassification, num_labels=3)
    x = _inputs("bert")
    prune(model, PruneConfig(sparsity=0.5, pattern="channel", scope="layer", hidden_size=True), example_input=x)
    emb = model.bert.embeddings
    assert emb.word_embeddings.embedding_dim == emb.LayerNorm.normalized_shape[0] == 32
    assert model.bert.encoder.layer[1].output.dense.out_features == 32
    out = model(**x).logits
    assert out.shape == (1, 3)
    path = tmp_path / "hidden.nnslim"
    nnslim.save(model, path)
    loaded = nnslim.load(path, _bert(transformers.BertForSequenceClassification, num_labels=3))
    torch.testing.assert_close(loaded(**x).logits, out, rtol=0, atol=0)


def test_hidden_size_is_opt_in():
    model = _bert(transformers.BertForSequenceClassification, num_labels=3)
    prune(model, PruneConfig(sparsity=0.5, pattern="channel"), example_input=_inputs("bert"))
    assert model.bert.embeddings.word_embeddings.embedding_dim == 64
