"""HTML forms of the labeling app (they validate and shape input; services do the writes)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from annotate.bounded import BoundedError
from labeling.models import Project
from labeling.services.project_settings import PEOPLE_ROLES, SETTINGS_FIELDS, categories_parse
from labeling.services.projects import MAX_CATEGORIES


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    slug = forms.SlugField(
        max_length=100,
        label=gettext_lazy("Slug"),
        help_text=gettext_lazy("Lowercase letters, digits and hyphens; used in URLs."),
    )
    task_type = forms.ChoiceField(choices=Project.TaskType.choices, label=gettext_lazy("Task type"))
    box_mode = forms.ChoiceField(
        choices=Project.BoxMode.choices,
        initial=Project.BoxMode.SINGLE,
        required=False,
        label=gettext_lazy("Box mode"),
        help_text=gettext_lazy(
            "Bounding-box projects: one category per image, or a category per box (object detection)."
        ),
    )
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        label=gettext_lazy("Instructions"),
        help_text=gettext_lazy("Plain text or markdown, shown to volunteers."),
    )
    categories = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label=gettext_lazy("Categories"),
        help_text=gettext_lazy("One name per line, or CSV with a header: name,definition,wnid,parent"),
    )
    min_votes = forms.IntegerField(
        min_value=0, max_value=50, initial=3, label=gettext_lazy("Min votes"),
        help_text=gettext_lazy(
            "Human votes every item gets at least. 0 lets a model proven on gold finish sure items alone."
        ),
    )  # fmt: skip
    max_votes = forms.IntegerField(min_value=1, max_value=50, required=False, label=gettext_lazy("Max votes"))
    gold_rate = forms.FloatField(min_value=0, max_value=0.5, initial=0.1, label=gettext_lazy("Gold rate"))
    visibility = forms.ChoiceField(choices=Project.Visibility.choices, label=gettext_lazy("Visibility"))

    def clean_categories(self) -> list[dict]:
        try:
            specs = categories_parse(self.cleaned_data.get("categories") or "")
        except BoundedError as exc:
            message = _("The categories cannot be read: %(reason)s") % {"reason": exc.message}
            raise forms.ValidationError(message, code=exc.code) from exc
        if len(specs) > MAX_CATEGORIES:
            raise forms.ValidationError(_("At most %(n)s categories.") % {"n": f"{MAX_CATEGORIES:,}"})
        return specs

    def clean(self) -> dict:
        data = super().clean()
        if data.get("max_votes") and data.get("min_votes") and data["max_votes"] < data["min_votes"]:
            self.add_error("max_votes", _("Max votes must be at least min votes."))
        if data.get("task_type") != Project.TaskType.BOXES or not data.get("box_mode"):
            data["box_mode"] = Project.BoxMode.SINGLE  # the choice only means something for box projects
        return data


class ProjectSettingsForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = list(SETTINGS_FIELDS)  # the fields project_update may write
        widgets = {"instructions": forms.Textarea(attrs={"rows": 4})}
        # Labels here, not as verbose_name on the model: a translated label needs no migration.
        labels = {
            "name": gettext_lazy("Name"),
            "instructions": gettext_lazy("Instructions"),
            "min_votes": gettext_lazy("Min votes"),
            "max_votes": gettext_lazy("Max votes"),
            "confidence_target": gettext_lazy("Confidence target"),
            "gold_rate": gettext_lazy("Gold rate"),
            "qualification_size": gettext_lazy("Qualification size"),
            "stall_hours": gettext_lazy("Stall hours"),
            "audit_rate": gettext_lazy("Audit rate"),
            "visibility": gettext_lazy("Visibility"),
        }
        help_texts = {
            "instructions": gettext_lazy("Plain text or safe markdown."),
            "qualification_size": gettext_lazy("Gold items a new volunteer answers before regular work."),
            "audit_rate": gettext_lazy(
                "Share of items that collect max votes whatever their confidence: the reference that checks "
                "whether stopping early at the confidence target is honest (ImageNet's initial subset per synset)."
            ),
            "stall_hours": gettext_lazy(
                "An item with votes that waits this many hours for its next vote goes to review (0 = never)."
            ),
        }

    def clean(self) -> dict:
        data = super().clean()
        if data.get("max_votes") and data.get("min_votes") and data["max_votes"] < data["min_votes"]:
            self.add_error("max_votes", _("Max votes must be at least min votes."))
        return data


PEOPLE_ROLE_LABELS = {
    "owners": gettext_lazy("Owners"),
    "reviewers": gettext_lazy("Reviewers"),
    "members": gettext_lazy("Members"),
}


class ProjectPeopleForm(forms.Form):
    role = forms.ChoiceField(choices=[(r, PEOPLE_ROLE_LABELS[r]) for r in PEOPLE_ROLES], label=gettext_lazy("Role"))
    username = forms.CharField(max_length=150, label=gettext_lazy("Username"))
    action = forms.ChoiceField(
        choices=[("add", gettext_lazy("Add")), ("remove", gettext_lazy("Remove"))], label=gettext_lazy("Action")
    )


class LeaderboardOptForm(forms.Form):
    show_on_leaderboard = forms.BooleanField(required=False, label=gettext_lazy("Show me on project leaderboards"))
