"""The quality engine (design: quality.md), one module per concern:

* engine.py       the label space, the snapshot's annotator models, the one decider (item_decide, stops)
* transitions.py  the one writer of Item.status: a table of the transitions each caller may make, Item.version
* online.py       the online update inside a submission's transaction (author_after_votes, items_after_votes)
* reaggregate.py  project_reaggregate: the periodic full re-aggregation (read / compute / write), store.py its writes,
                 annotator_stats.py what it measures of each annotator
* calibration.py  per-category calibration against gold and reviewed items
* rules.py        annotator status rules; overrides.py a person's block / unblock / status decision
* gold.py         known answers and practice feedback; gold_import.py gold from CSV / JSON files
* review.py       the reviewer's accept / reject / fix
* replay.py       replaying a real crowd file through the services (import it from there: it needs the vote path)
"""

from labeling.services.quality.gold import (
    PracticeFeedback,
    gold_boxes_set,
    gold_set,
    label_validate,
    practice_feedback,
)
from labeling.services.quality.gold_import import (
    GoldEntry,
    GoldImportResult,
    gold_entries_from_json,
    gold_entries_read,
    gold_import,
    gold_import_file,
)
from labeling.services.quality.online import (
    annotator_may_label,
    annotators_blocked_apply,
    blocked_score,
    item_evaluate,
    items_reevaluate,
)
from labeling.services.quality.overrides import annotator_block, annotator_status_set, annotator_unblock
from labeling.services.quality.reaggregate import ReaggregateResult, project_reaggregate

__all__ = [
    "GoldEntry",
    "GoldImportResult",
    "PracticeFeedback",
    "ReaggregateResult",
    "annotator_block",
    "annotator_may_label",
    "annotator_status_set",
    "annotator_unblock",
    "annotators_blocked_apply",
    "blocked_score",
    "gold_boxes_set",
    "gold_entries_from_json",
    "gold_entries_read",
    "gold_import",
    "gold_import_file",
    "gold_set",
    "item_evaluate",
    "items_reevaluate",
    "label_validate",
    "practice_feedback",
    "project_reaggregate",
]
