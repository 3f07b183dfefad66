"""HTML forms of the labeling app (they validate and shape input; services do the writes)."""

from __future__ import annotations

from django import forms

from labeling.models import Project
from labeling.services.project_settings import PEOPLE_ROLES, SETTINGS_FIELDS, categories_parse
from labeling.services.projects import MAX_CATEGORIES


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=100, help_text="Lowercase letters, digits and hyphens; used in URLs.")
    task_type = forms.ChoiceField(choices=Project.TaskType.choices)
    box_mode = forms.ChoiceField(
        choices=Project.BoxMode.choices,
        initial=Project.BoxMode.SINGLE,
        required=False,
        help_text="Bounding-box projects: one category per image, or a category per box (object detection).",
    )
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False,
                                   help_text="Plain text or markdown, shown to volunteers.")  # fmt: skip
    categories = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text="One name per line, or CSV with a header: name,definition,wnid,parent",
    )
    min_votes = forms.IntegerField(
        min_value=0, max_value=50, initial=3,
        help_text="Human votes every item gets at least. 0 lets a model proven on gold finish sure items alone.",
    )  # fmt: skip
    max_votes = forms.IntegerField(min_value=1, max_value=50, required=False)
    gold_rate = forms.FloatField(min_value=0, max_value=0.5, initial=0.1)
    visibility = forms.ChoiceField(choices=Project.Visibility.choices)

    def clean_categories(self) -> list[dict]:
        specs = categories_parse(self.cleaned_data.get("categories") or "")
        if len(specs) > MAX_CATEGORIES:
            raise forms.ValidationError(f"At most {MAX_CATEGORIES:,} categories.")
        return specs

    def clean(self) -> dict:
        data = super().clean()
        if data.get("max_votes") and data.get("min_votes") and data["max_votes"] < data["min_votes"]:
            self.add_error("max_votes", "Max votes must be at least min votes.")
        if data.get("task_type") != Project.TaskType.BOXES or not data.get("box_mode"):
            data["box_mode"] = Project.BoxMode.SINGLE  # the choice only means something for box projects
        return data


class ProjectSettingsForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = list(SETTINGS_FIELDS)  # the fields project_update may write
        widgets = {"instructions": forms.Textarea(attrs={"rows": 4})}

    def clean(self) -> dict:
        data = super().clean()
        if data.get("max_votes") and data.get("min_votes") and data["max_votes"] < data["min_votes"]:
            self.add_error("max_votes", "Max votes must be at least min votes.")
        return data


class ProjectPeopleForm(forms.Form):
    role = forms.ChoiceField(choices=[(r, r.capitalize()) for r in PEOPLE_ROLES])
    username = forms.CharField(max_length=150)
    action = forms.ChoiceField(choices=[("add", "Add"), ("remove", "Remove")])


class LeaderboardOptForm(forms.Form):
    show_on_leaderboard = forms.BooleanField(required=False, label="Show me on project leaderboards")
