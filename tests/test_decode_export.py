"""The decode benchmark compares like with like: our transformer exported to Hugging Face M2M100
and to CTranslate2 (benchmarks/decode_export.py) computes the same function: the same logits,
so greedy decodes agree token for token with ours. (Beam searches may differ: T2T's stopping
rule and length penalty are not theirs.)"""

import types

import pytest
import torch

from runner.models import transformer
from runner.models.transformer_hparams import TransformerHparams
from runner.training.decode import greedy_decode, strip_ids

pytest.importorskip("transformers")
VOCAB = 40
HP = TransformerHparams(hidden_size=32, filter_size=64, num_heads=4, num_encoder_layers=2, num_decoder_layers=2,
                        shared_embedding_and_softmax_weights=True)


def model_and_sources():
    info = types.SimpleNamespace(input_vocab_size=VOCAB, target_vocab_size=VOCAB, pad_id=0, eos_id=1,
                                 target_pad_id=0, input_kind="tokens")
    torch.manual_seed(0)
    model = transformer.build(HP, info).eval()
    generator = torch.Generator().manual_seed(3)
    sources = torch.randint(2, VOCAB, (4, 7), generator=generator)
    sources[:, -1] = 1  # EOS-terminated, as the data pipeline writes them
    sources[1, 4], sources[1, 5:] = 1, 0
    return model, sources


def test_hf_export_computes_our_logits_and_decodes():
    from benchmarks import decode_export

    model, sources = model_and_sources()
    hf = decode_export.to_hf(model, HP)
    prefix = torch.nn.functional.pad(torch.randint(2, VOCAB, (4, 5)), (1, 0))
    with torch.no_grad():
        ours = model.decode(model.encode({"inputs": sources}), prefix)
        theirs = hf(input_ids=sources, attention_mask=(sources != 0).long(), decoder_input_ids=prefix).logits
        torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-4)
        out = hf.generate(input_ids=sources, attention_mask=(sources != 0).long(),
                          generation_config=decode_export.hf_generation_config(1, 0.0, 12))
        assert [strip_ids(row[1:]) for row in out.tolist()] == greedy_decode(model, {"inputs": sources}, 12)


def test_ctranslate2_export_decodes_like_ours(tmp_path):
    pytest.importorskip("ctranslate2")
    from benchmarks import decode_export

    model, sources = model_and_sources()
    translator = decode_export.ctranslate2_translator(decode_export.to_ctranslate2(model, HP, str(tmp_path)), 1)
    names = decode_export.token_names(VOCAB)
    tokens = [decode_export.ct2_tokens([t for t in row if t], names) for row in sources.tolist()]
    results = translator.translate_batch(tokens, beam_size=1, max_decoding_length=12)
    assert [strip_ids(decode_export.ct2_ids(r.hypotheses[0])) for r in results] == \
        greedy_decode(model, {"inputs": sources}, 12)
