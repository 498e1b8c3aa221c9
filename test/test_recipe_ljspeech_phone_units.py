"""egs/ljspeech/tts1's toy vocoder-floor run on supervised phone-posterior units: stage 0's lst1
aligns with pocketsphinx (stage 2), trains the phone classifier (stage 3, with SpecAugment), takes
each frame's most likely phone as its unit (--unit_codebook argmax), and the package's units come
from that classifier (slow)."""
from test_recipe_ljspeech import check_toy_vocoder_floor, pytestmark  # noqa: F401 (skips and the slow mark)


def test_toy_vocoder_floor_on_phone_posterior_units(tmp_path):
    check_toy_vocoder_floor(tmp_path, "phone_posterior")
