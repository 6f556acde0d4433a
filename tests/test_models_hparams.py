"""Hparams schemas of transformer, transformer_lm and lstm_seq2seq_attention."""

import subprocess
import sys

import pytest
from pydantic import ValidationError

from runner.models.hparams_base import TrainingHparams
from runner.models.lstm_seq2seq_attention_hparams import LSTMSeq2SeqHparams
from runner.models.transformer_hparams import TransformerArchitecture, TransformerHparams
from runner.models.transformer_lm_hparams import TransformerLMHparams


def test_transformer_base_defaults():
    hp = TransformerHparams()
    assert (hp.hidden_size, hp.filter_size, hp.num_heads) == (512, 2048, 8)
    assert (hp.num_encoder_layers, hp.num_decoder_layers) == (6, 6)
    assert hp.layer_prepostprocess_dropout == hp.attention_dropout == hp.relu_dropout == 0.1
    assert hp.shared_embedding_and_softmax_weights and hp.moe_num_experts == 0
    assert (hp.moe_capacity_factor, hp.moe_loss_coef) == (1.25, 0.01)
    assert isinstance(hp, TrainingHparams) and hp.learning_rate_warmup_steps == 8000


def test_lm_shares_the_architecture_fields():
    assert issubclass(TransformerLMHparams, TransformerArchitecture)
    assert issubclass(TransformerHparams, TransformerArchitecture)
    shared = set(TransformerArchitecture.model_fields)
    assert shared <= set(TransformerLMHparams.model_fields) and shared <= set(TransformerHparams.model_fields)
    assert "num_encoder_layers" not in TransformerLMHparams.model_fields
    assert TransformerLMHparams().prepend_mode == "none"
    with pytest.raises(ValidationError, match="prepend_mode"):
        TransformerLMHparams(prepend_mode="prepend_inputs")


@pytest.mark.parametrize("schema", [TransformerHparams, TransformerLMHparams])
def test_hidden_size_must_divide_by_heads(schema):
    with pytest.raises(ValidationError, match="hidden_size=100 is not divisible by num_heads=8"):
        schema(hidden_size=100)
    assert schema(hidden_size=96, num_heads=8).hidden_size == 96


@pytest.mark.parametrize("field", ["layer_prepostprocess_dropout", "attention_dropout", "relu_dropout"])
@pytest.mark.parametrize("value", [1.5, -0.1])
def test_dropouts_must_be_probabilities(field, value):
    with pytest.raises(ValidationError, match=field):
        TransformerHparams(**{field: value})
    assert getattr(TransformerHparams(**{field: 1.0}), field) == 1.0


def test_unknown_keys_and_frozen():
    with pytest.raises(ValidationError, match="hidden_sise"):
        TransformerHparams(hidden_sise=3)
    with pytest.raises(ValidationError):
        TransformerHparams().hidden_size = 3


def test_lstm_defaults_and_validation():
    hp = LSTMSeq2SeqHparams()
    assert (hp.hidden_size, hp.num_hidden_layers, hp.dropout, hp.attention_mechanism) == (128, 2, 0.2, "luong")
    # basic_params1's legacy rate for Adam: 0.1 x 0.002 after an exponential warmup (T2T's lstm sets)
    assert (hp.learning_rate_schedule, hp.learning_rate_constant) == ("constant*exp_warmup", 2e-4)
    with pytest.raises(ValidationError, match="dropout"):
        LSTMSeq2SeqHparams(dropout=2.0)
    with pytest.raises(ValidationError, match="attention_mechanism"):
        LSTMSeq2SeqHparams(attention_mechanism="dot")
    with pytest.raises(ValidationError, match="unknown schedule factor"):
        LSTMSeq2SeqHparams(learning_rate_schedule="constant*cubic")


def test_hparams_modules_do_not_import_torch():
    code = ("import sys; import runner.models.transformer_hparams, runner.models.transformer_lm_hparams, "
            "runner.models.lstm_seq2seq_attention_hparams; print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
