import subprocess
import sys


def test_the_serving_app_imports_without_torch_monai_or_mlflow():
    code = (
        "import sys, medai.serving, medai.serving.app\n"
        "heavy = {'torch', 'monai', 'mlflow'}\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
