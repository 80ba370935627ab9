"""Installs the ``incomplete_fusion`` OpenMMLab plugin.

Versions come from ``requirements.txt`` (the single place where they are pinned);
build-only and test-only pins are left out of ``install_requires``.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
BUILD_OR_TEST_ONLY = {'setuptools', 'wheel', 'pytest'}


def read_requirements() -> list:
    requirements = []
    for line in (HERE / 'requirements.txt').read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if line and line.split('==')[0] not in BUILD_OR_TEST_ONLY:
            requirements.append(line)
    return requirements


def read_version() -> str:
    namespace: dict = {}
    exec((HERE / 'incomplete_fusion' / 'version.py').read_text(), namespace)
    return namespace['__version__']


setup(
    name='incomplete_fusion',
    version=read_version(),
    description='Incomplete multimodal remote-sensing fusion (FusionViT) '
    'as an OpenMMLab plugin',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['incomplete_fusion', 'incomplete_fusion.*']),
    python_requires='>=3.10',
    install_requires=read_requirements(),
    extras_require={'tests': ['pytest']},
    license='Apache-2.0',
)
