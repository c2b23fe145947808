"""ct-seg's inference server: ``uvicorn --factory ct_seg.api.main:create_app``.

``uv run invoke serve --project=ct-seg`` materializes the registered model and starts
this factory with ``api.model_dir`` pointing at the folder. Configuration comes from the
usual layers (``MEDAI_ENV``, ``MEDAI__API__*``); API keys from ``MEDAI_API_KEYS`` or
``MEDAI_API_KEYS_FILE``. The app is the segmentation kit's, with ct-seg's route.
"""

from ct_seg.api.routes.predict import router
from ct_seg.settings import PROJECT
from medai.segmentation.serving.app import app_factory

create_app = app_factory(PROJECT, router)
