"""Shared test settings: every test starts from the same random state."""

import random

import numpy as np
import pytest
import torch

# The tests run tiny tensors: one intra-op thread is faster for them and immune to a busy CPU.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
