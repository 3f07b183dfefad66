"""Django admin for the labeling data: for staff to look things up and make the few edits services allow.

Permissions follow annotate/staff.py: `staff-operator` has add/change/view (no delete) on these models and
`staff-auditor` view only; superusers everything the admin allows. Nothing here grants privileges: project people
(owners, reviewers, members) are read-only (owners change them on the project page), and no model here touches users.

Writes go through the services, as everywhere (CONVENTIONS 1): project settings through `project_update`, category
edits through `category_update`, gold labels through `gold_set`, item actions through labeling.services.curation.
Votes, annotations, review actions, dataset versions (immutable) and exports are read-only; nothing that would
silently change a published version or a vote count can be deleted here. Every list page joins what it shows
(`list_select_related` or an annotated queryset): its query count does not grow with the page size.
"""

from labeling.admin import datasets, items, projects, quality  # noqa: F401 (each module registers its admins)
