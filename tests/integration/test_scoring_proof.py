"""The scoring and classify checks (suites/test_conformance_scoring.py) proven both ways against real vLLM:
they pass on cpu-tiny-rerank (a tiny random BERT cross-encoder: /score, /rerank) and cpu-tiny-classify (a
3-label BERT classifier: /classify), and each defect a tests/defects/pooling.py proxy injects fails exactly
the check named for it, having really fired. One class per variant: its server is class-scoped, so one is
stopped before the next boots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.server.endpoint import Endpoint
from tests.conftest import launched
from tests.defects import pooling as defects
from tests.integration.test_pooling_proof import caught, run_suite

pytestmark = [pytest.mark.integration, pytest.mark.pooling]  # opt-in: -m pooling (an image build and three boots)

SCORING = "suites/test_conformance_scoring.py"
Case = tuple[type[defects.CountingDefect], str]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "defect_type" in metafunc.fixturenames and metafunc.cls is not None:
        metafunc.parametrize("defect_type,check", [pytest.param(d, c, id=f"{d.__name__}-{c}")
                                                   for d, c in metafunc.cls.CASES])


class BothWays:
    IMAGE = ""
    PASSES = ""  # this family's checks, all passing; the other family's skip for the capability it lacks
    CASES: tuple[Case, ...] = ()

    @pytest.fixture(scope="class")
    @classmethod
    def served(cls, tmp_path_factory: pytest.TempPathFactory, docker_client: object) -> Iterator[Endpoint]:
        with launched(tmp_path_factory, cls.IMAGE) as endpoint:
            yield endpoint

    def test_checks_pass_on_real_vllm(self, served: Endpoint, tmp_path: Path) -> None:
        result = run_suite(served.base_url, self.IMAGE, tmp_path, SCORING)
        print(f"\nscoring checks against {self.IMAGE}: {result.stdout.splitlines()[-1]}")
        assert result.returncode == 0 and self.PASSES in result.stdout, result.stdout[-4000:]

    def test_defect_is_caught_by_its_check(self, served: Endpoint, tmp_path: Path,
                                           defect_type: type[defects.CountingDefect], check: str) -> None:
        caught(served, self.IMAGE, tmp_path, defect_type, f"{SCORING}::{check}")


class TestRerank(BothWays):
    IMAGE, PASSES = "cpu-tiny-rerank", "9 passed"
    CASES = (
        (defects.MisSortsRerank, "test_rerank_ranks_every_document_and_top_n_keeps_the_best"),
        (defects.IgnoresTopN, "test_rerank_ranks_every_document_and_top_n_keeps_the_best"),
        (defects.SoftmaxOverDocuments, "test_rerank_score_is_the_pair_scored_alone"),
        (defects.SoftmaxOverDocuments, "test_rerank_score_does_not_depend_on_the_other_documents"),
        (defects.V2ScoresHalved, "test_rerank_routes_and_score_agree"),
        (defects.CrashOnNoDocuments, "test_rerank_bad_request_is_a_4xx_with_a_message[no-documents]"),
    )


class TestClassify(BothWays):
    IMAGE, PASSES = "cpu-tiny-classify", "5 passed"
    CASES = (
        (defects.UnnormalizedProbs, "test_classify_probabilities_sum_to_one"),
        (defects.PerturbsClassifyBatch, "test_classify_batch_items_equal_single_requests"),
    )
