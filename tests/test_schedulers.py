import pytest

from recipes import schedulers, toymodel


def test_aliases_and_case():
    assert schedulers.canonical("Euler_Ancestral") == "euler_a"
    assert schedulers.canonical("欧拉") == "euler"
    assert schedulers.canonical(" DPM++2M ") == "dpm++2m"


def test_unknown_scheduler_lists_choices():
    with pytest.raises(ValueError) as err:
        schedulers.canonical("eulr")
    assert "'eulr'" in str(err.value) and "euler_a" in str(err.value)


@pytest.mark.parametrize("name", list(schedulers.SCHEDULERS))
def test_every_scheduler_keeps_the_training_schedule(name):
    base = toymodel.inference_scheduler()
    new = schedulers.make_scheduler(name, base.config)
    for key in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule"):
        assert new.config[key] == base.config[key], key
    new.set_timesteps(10)
    assert len(new.timesteps) >= 10


def test_karras_variant_sets_its_flag():
    s = schedulers.make_scheduler("dpm++2m_karras", toymodel.inference_scheduler().config)
    assert s.config.use_karras_sigmas and s.config.algorithm_type == "dpmsolver++"
