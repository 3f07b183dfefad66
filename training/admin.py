from django.contrib import admin

from training.models import ModelPrediction, TrainingEpoch, TrainingRun


class TrainingEpochInline(admin.TabularInline):
    model = TrainingEpoch
    extra = 0
    can_delete = False
    readonly_fields = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_sec", "seconds",
                       "attempt")  # fmt: skip
    exclude = ("steps",)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "version", "architecture", "status", "epochs_done", "epochs_total", "device_used",
                    "worker_host", "created_at")  # fmt: skip
    list_filter = ("status", "architecture")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
    inlines = [TrainingEpochInline]

    def has_add_permission(self, request) -> bool:  # runs are created by the service only
        return False


@admin.register(ModelPrediction)
class ModelPredictionAdmin(admin.ModelAdmin):
    list_display = ("run", "item", "predicted_label", "confidence", "entropy", "margin")
    readonly_fields = [f.name for f in ModelPrediction._meta.fields]
    raw_id_fields = ("run", "item")
