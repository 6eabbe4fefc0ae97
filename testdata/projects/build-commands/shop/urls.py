"""The shop's one page: what collectstatic left in STATIC_ROOT."""

from django.conf import settings
from django.http import HttpResponse
from django.urls import path


def index(request):
    root = settings.STATIC_ROOT
    bundle = (root / "app.bundle.js").read_text().splitlines()[0]
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return HttpResponse(f"shop ready; bundle: {bundle}; static: {' '.join(files)}\n")


urlpatterns = [path("", index)]
