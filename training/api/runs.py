"""Training runs API: start, list, detail (with epochs), cancel, predict. Researchers, own projects only."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.roles import HasRole, Role
from labeling.selectors.projects import project_for_researcher
from training.ml.config import ARCHS
from training.models import TrainingRun
from training.selectors import run_epochs, run_for_researcher, runs_for_researcher, version_for_researcher
from training.services import run_cancel, run_create, run_predict_enqueue

RESEARCHER = [HasRole.of(Role.RESEARCHER)]


class RunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(source="version_id")
    project = serializers.CharField(source="version.project.slug")
    architecture = serializers.CharField()
    status = serializers.CharField()
    cancel_requested = serializers.BooleanField()
    device_requested = serializers.CharField()
    device_used = serializers.CharField()
    world_size = serializers.IntegerField()
    epochs_total = serializers.IntegerField()
    epochs_done = serializers.IntegerField()
    test_accuracy = serializers.FloatField(allow_null=True)
    macro_f1 = serializers.FloatField(allow_null=True)
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class RunDetailOutput(RunOutput):
    config = serializers.JSONField()
    class_names = serializers.JSONField()
    final_split = serializers.CharField()
    final_metrics = serializers.JSONField(allow_null=True)
    has_checkpoint = serializers.SerializerMethodField()
    worker_host = serializers.CharField()
    log_tail = serializers.CharField()
    error = serializers.CharField()
    resumed_from_epoch = serializers.IntegerField(allow_null=True)
    voter_accuracy = serializers.FloatField(allow_null=True)
    voter_checked = serializers.IntegerField()
    weights = serializers.CharField(help_text="Which weights the run started from.")
    transfer_choice = serializers.JSONField(allow_null=True, help_text="A pretrained run's probe/fine-tune choice.")
    transfer_text = serializers.CharField(help_text="That choice and why, in words.")
    epochs = serializers.SerializerMethodField()

    def get_has_checkpoint(self, run: TrainingRun) -> bool:
        return bool(run.checkpoint)

    def get_epochs(self, run: TrainingRun) -> list[dict]:
        return run_epochs(run)


class RunListApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(responses=RunOutput(many=True), summary="Training runs on your projects' dataset versions")
    def get(self, request: Request) -> Response:
        runs = runs_for_researcher(request.user)[:200]
        return Response(RunOutput(runs, many=True).data)


class RunStartApi(APIView):
    permission_classes = RESEARCHER

    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=1)
        architecture = serializers.ChoiceField(choices=ARCHS, default="small_cnn")
        pretrained = serializers.BooleanField(default=False, help_text="Packaged ImageNet weights (efficientnet_lite0)")
        probe_epochs = serializers.IntegerField(min_value=1, max_value=1000, required=False)
        epochs = serializers.IntegerField(
            min_value=0, max_value=1000, required=False, help_text="With pretrained: fine-tune epochs (0: probe only)"
        )
        batch_size = serializers.IntegerField(min_value=1, max_value=4096, required=False)
        lr = serializers.FloatField(min_value=1e-7, max_value=10, required=False)
        lr_schedule = serializers.ChoiceField(choices=["cosine", "step", "constant"], required=False)
        weight_decay = serializers.FloatField(min_value=0, max_value=1, required=False)
        image_size = serializers.IntegerField(min_value=8, max_value=1024, required=False)
        augmentation = serializers.ChoiceField(choices=["none", "basic", "strong"], required=False)
        seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
        device = serializers.ChoiceField(choices=["auto", "cpu", "cuda"], required=False)
        transfer = serializers.ChoiceField(
            choices=["auto", "probe", "fine_tune"],
            default="auto",
            help_text="Pretrained: probe only or probe then fine-tune; auto decides by the data",
        )
        world_size = serializers.IntegerField(
            min_value=1, max_value=64, required=False,
            help_text="Data-parallel processes (GPUs); batch_size is the global batch, split over them",
        )  # fmt: skip

    @extend_schema(request=InputSerializer, responses={201: RunDetailOutput}, summary="Start a training run")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = version_for_researcher(request.user, fields.pop("version"))
        arch, transfer = fields.pop("architecture"), fields.pop("transfer")
        with transaction.atomic():
            run = run_create(version=version, created_by=request.user, architecture=arch, overrides=fields,
                             transfer=transfer)  # fmt: skip
        return Response(RunDetailOutput(run).data, status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(responses=RunDetailOutput, summary="A training run with its per-epoch metrics")
    def get(self, request: Request, pk: int) -> Response:
        return Response(RunDetailOutput(run_for_researcher(request.user, pk)).data)


class RunCancelApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(request=None, responses=RunOutput, summary="Cancel a run (stops at the next batch)")
    def post(self, request: Request, pk: int) -> Response:
        run = run_cancel(run=run_for_researcher(request.user, pk))
        return Response(RunOutput(run).data)


class RunPredictApi(APIView):
    permission_classes = RESEARCHER

    class InputSerializer(serializers.Serializer):
        project = serializers.CharField(max_length=100, required=False)
        vote = serializers.BooleanField(default=True)

    class OutputSerializer(serializers.Serializer):
        run = serializers.IntegerField()
        project = serializers.CharField()
        queued = serializers.BooleanField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer},
                   summary="Predict the project's unfinished items (priority) and let the model vote")  # fmt: skip
    def post(self, request: Request, pk: int) -> Response:
        run = run_for_researcher(request.user, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = data.validated_data.get("project") or run.version.project_id
        project = project_for_researcher(request.user, key)
        run_predict_enqueue(run=run, project=project, vote=data.validated_data["vote"])
        body = {"run": run.pk, "project": project.slug, "queued": True}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)
