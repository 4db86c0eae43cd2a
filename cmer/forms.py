"""Form base classes: DSFR markup, optional fields marked (not required ones), as DSFR advises."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from dsfr.forms import DsfrBoundField
from dsfr.utils import dsfr_input_class_attr

# Only ever mixed into a form: a BaseForm for the type checker, a plain object at run time.
if TYPE_CHECKING:
    _FormBase = forms.BaseForm
else:
    _FormBase = object


class DsfrMixin(_FormBase):
    template_name = "dsfr/form_snippet.html"
    bound_field_class = DsfrBoundField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for visible in self.visible_fields():
            dsfr_input_class_attr(visible)
            widget = visible.field.widget
            if isinstance(widget, forms.FileInput):
                # DSFR's upload component rather than the bare browser input.
                # Read by DSFR's upload template; not an attribute Django's widget declares.
                setattr(widget, "group_class", "fr-upload-group")  # noqa: B010
                widget.attrs["class"] = "fr-upload"

    def get_context(self) -> dict[str, Any]:
        # Not DsfrBaseForm.get_context(): it warns whatever the setting (transitional API).
        context = forms.BaseForm.get_context(self)
        context["DSFR_MARK_OPTIONAL_FIELDS"] = True
        return context


class CmerForm(DsfrMixin, forms.Form):
    pass


class CmerModelForm(DsfrMixin, forms.ModelForm):
    pass
