"""The transformer MLP (Linear - GELU - Linear), without residual."""
from torch import Tensor, nn

__all__ = ['Mlp']


class Mlp(nn.Module):

    def __init__(self, embed_dims: int, hidden_dims: int):
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))
