"""Figure annotations say how each number was chosen."""

import numpy as np

from frisson.latent import Clusters
from frisson.report.figures import _cluster_title
from frisson.structure import GapClusters
from frisson.timeseries import TimeSeries


def _labels():
    return TimeSeries(np.zeros((4, 1)), 1.0, names=["cluster"])


def test_cluster_title_names_the_rule_that_chose_k():
    centers = np.zeros((2, 2))
    plain = Clusters(_labels(), 2, {2: 0.4}, centers)
    assert _cluster_title(plain) == "k-means clusters (k = 2, by silhouette)"
    tested = GapClusters(_labels(), 3, {3: 0.5}, centers, beats_null=True, p=0.004)
    assert _cluster_title(tested) == ("k-means clusters (k = 3 by gap; beats the null, p = 0.004)")
    flat = GapClusters(_labels(), 1, {}, centers[:1], beats_null=False, p=1.0)
    assert "k = 1 by gap; does not beat the null, p = 1" in _cluster_title(flat)
