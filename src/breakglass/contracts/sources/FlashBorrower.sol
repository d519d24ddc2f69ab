// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IERC20Min {
    function transfer(address to, uint256 amount) external returns (bool);
}

interface IUniswapV2PairMin {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}

/// @title FlashBorrower
/// @notice A plain Uniswap V2 flash-swap borrower, for transaction-analysis tests.
/// @dev `borrow` flash-borrows `amount` of the pair's token0 and repays the same token in
///      `uniswapV2Call` with the 0.3% fee (`amount * 3 / 997 + 1`), paid from its own balance.
///      Ether sent along is split: half to `tip` during the callback, half kept.
contract FlashBorrower {
    address private tip;

    function borrow(address pair, uint256 amount, address payable tipTo) external payable {
        tip = tipTo;
        IUniswapV2PairMin(pair).swap(amount, 0, address(this), abi.encode(msg.sender));
    }

    function uniswapV2Call(address, uint256 amount0, uint256, bytes calldata) external {
        uint256 fee = amount0 * 3 / 997 + 1;
        IERC20Min(IUniswapV2PairMin(msg.sender).token0()).transfer(msg.sender, amount0 + fee);
        uint256 half = address(this).balance / 2;
        if (half > 0) {
            (bool ok,) = tip.call{value: half}("");
            require(ok, "tip failed");
        }
    }

    function fail() external pure {
        revert("FlashBorrower: fail");
    }
}
