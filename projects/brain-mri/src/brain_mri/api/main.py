"""The brain-mri inference server: ``create_app`` is the factory uvicorn calls.

    uvicorn --factory brain_mri.api.main:create_app

``uv run invoke serve --project=brain-mri`` materializes the registered model and
starts this factory with ``api.model_dir`` pointing at it. Configuration comes from the
usual layers (``MEDAI_ENV``, ``MEDAI__API__*``), API keys from ``MEDAI_API_KEYS`` or
``MEDAI_API_KEYS_FILE``. The app is the segmentation kit's, with this project's route.
"""

from brain_mri.api.routes.predict import router
from brain_mri.settings import PROJECT
from medai.segmentation.serving.app import app_factory

create_app = app_factory(PROJECT, router)
