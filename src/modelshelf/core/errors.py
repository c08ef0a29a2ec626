"""The package's own error types.

Every error a user can cause derives from :class:`ModelshelfError`; its message says what was
wrong and what to do, so the CLI and the magics can print it as one line.
"""

from __future__ import annotations

from typing import Any


class ModelshelfError(Exception):
    """Base class of every error modelshelf raises on purpose."""


class InvalidNameError(ModelshelfError, ValueError):
    """A model name, alias, reference or in-model path breaks the naming rules."""


class ModelNotFoundError(ModelshelfError, LookupError):
    """The model, version, alias or file asked for does not exist."""


class SourceError(ModelshelfError):
    """A save source is missing, unreachable or of an unsupported kind."""


class UnsafeArchiveError(SourceError):
    """An archive holds an entry that would escape the target or is too large."""


class SizeLimitError(ModelshelfError):
    """A model or an archive is larger than the configured limit."""


class ModelInUseError(ModelshelfError):
    """A version cannot be deleted while leases or aliases hold it."""

    def __init__(self, message: str, holders: list[str] | None = None) -> None:
        super().__init__(message)
        #: Who holds the version: lease owners, or ``alias <name>`` for aliases.
        self.holders = list(holders or [])


class IntegrityError(ModelshelfError):
    """Stored bytes do not match their recorded sha256: the blob is damaged."""


class StorageError(ModelshelfError):
    """The store's storage could not be reached or refused the request (credentials, network)."""


class LockLostError(StorageError):
    """A store lock lapsed or vanished while held: others may have ignored it meanwhile."""


class StoreBusyError(ModelshelfError):
    """Another process holds a lock that this operation must wait for."""


class UploadStateError(ModelshelfError):
    """A browser upload cannot take this step now: a chunk at the wrong offset, a commit
    before every byte arrived, a cancel while it is being committed (answered with 409)."""


class StateVersionError(ModelshelfError):
    """A local state database was written by a newer modelshelf (its schema version is unknown)."""


class MissingDependencyError(ModelshelfError, ImportError):
    """An optional package is needed for this operation and is not installed."""


class JobError(ModelshelfError):
    """A job cannot be submitted as asked (bad notebook, executor, workers, ...)."""


class ScheduleError(ModelshelfError):
    """A schedule cannot be made or changed as asked (bad timing, unknown name, ...)."""


class ScheduleNotFoundError(ScheduleError, LookupError):
    """No schedule has this name."""


class ParameterError(ModelshelfError, ValueError):
    """A job parameter is unknown to the notebook or of the wrong type."""


class EvaluationError(ModelshelfError, ValueError):
    """A score cannot be recorded as given (not a finite number, unknown pipeline)."""


class PipelineError(JobError):
    """A training pipeline cannot run as asked (no train.py/Main, no ModelAdapter, bad
    combination of pipeline, model and data)."""


class JobTimeoutError(ModelshelfError, TimeoutError):
    """``wait`` gave up before the job ended (the job itself goes on)."""


class DeploymentError(ModelshelfError):
    """A deployment cannot be made, reached or invoked as asked."""


class RequirementsError(DeploymentError):
    """A model folder's requirements file cannot be used as written (a line modelshelf cannot
    install into a shared environment, a file it names that is missing, a Python it lacks)."""


class EnvironmentBuildError(DeploymentError):
    """A model's virtual environment cannot be built: the installer's message says why."""


class RequirementsNotMetError(ModelshelfError):
    """A model loaded into a running server needs libraries its environment lacks (424)."""


class BodyTooLargeError(ModelshelfError):
    """The request body is over ``ServingSettings.max_body`` (answered with 413)."""


class ModelTooLargeError(ModelshelfError):
    """A model is larger than the endpoint's whole memory budget (answered with 507)."""


class ModelKeyError(InvalidNameError):
    """A target model key that would leave the model-data prefix (answered with 400)."""


class ModelDataError(ModelshelfError):
    """An artifact under a model-data prefix cannot be fetched, extracted or kept on disk.

    ``status`` is the HTTP status a multi-model endpoint answers it with.
    """

    status = 500


class DiskCacheFullError(ModelDataError):
    """The model-data disk cache cannot make room: what is left is in use (answered 507)."""

    status = 507


class HandlerNotFoundError(ModelshelfError):
    """A model folder has nothing modelshelf knows how to serve."""


class ServingError(ModelshelfError):
    """The model's own code failed (load or predict); carries the user's traceback."""

    def __init__(self, message: str, user_traceback: str = "") -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


class PayloadError(ModelshelfError, ValueError):
    """A request body cannot be read as its content type says (answered with 400)."""


class UnsupportedFormatError(PayloadError):
    """The serving code cannot read the request's Content-Type (answered with 415) or write
    any type its Accept header asks for (406)."""

    def __init__(self, message: str, status: int = 415) -> None:
        super().__init__(message)
        self.status = status


class V2Error(PayloadError):
    """A malformed infer request (answered with 400 ``{"error": ...}``)."""


class NotAcceptableError(PayloadError):
    """No format the request's Accept allows can carry the answer (answered with 406).

    A PayloadError, so an app that does not map it to 406 still answers 400, not 500.
    """


class ExplainerNotFoundError(ModelshelfError):
    """A model asked to explain has no ``explain`` of its own (answered with 501)."""


class CommandLineError(ModelshelfError):
    """A command line does not follow the grammar (the magics raise it as a UsageError)."""


class PathNotAllowedError(InvalidNameError):
    """A local path outside the folders it may be read from (answered with 400)."""


class ServerPathError(PathNotAllowedError):
    """A path or URL a REST client is not allowed to make the server read."""


class TaskFailed(ModelshelfError):
    """Raised by a task's work to end it as failed while still returning a result."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result
